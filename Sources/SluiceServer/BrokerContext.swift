import Glibc
import KafkaProtocol
import Logging
import NIOCore
import SluiceCore
import SluiceStorage

/// What every request handler may use: settings, identity, topics, and the advertised address.
public final class BrokerContext: Sendable {
    /// Dynamic broker settings: AlterConfigs on broker resources goes through it.
    public let configs: BrokerConfigManager
    public let identity: ClusterIdentity
    public let registry: TopicRegistry
    /// Where clients reach this broker, per listener (the bound address where
    /// `advertised.listeners` names none), the inter-broker listener's first.
    public let advertisedListeners: [ListenerEndpoint]
    public let logger: Logger
    /// The credentials SASL logins are checked against.
    let security: BrokerSecurity
    let fetchWaiters: FetchWaiters
    let fetchSessions = FetchSessions()
    let producerIds: ProducerIdAllocator
    /// The group coordinator; confined to its own event loop (`groups.owner`).
    public let groups: GroupCoordinator
    /// The transaction coordinators here: a broker of its own's one, or a cluster broker's for
    /// the `__transaction_state` partitions it leads; each confined to its event loop.
    let transactions: TransactionCoordinators
    public let metrics: BrokerMetrics
    let writer: any LogWriter
    /// Set when this node is part of a cluster (controller.quorum.voters); nil for the embedded
    /// single broker, which is its own controller.
    public let cluster: ClusterNode?

    /// The storage writer has more queued than it should: produce requests wait.
    var storageCongested: Bool { writer.isCongested }

    func whenStorageUncongested(_ work: @escaping @Sendable () -> Void) {
        writer.whenUncongested(work)
    }

    init(configs: BrokerConfigManager, identity: ClusterIdentity, registry: TopicRegistry, advertisedListeners: [ListenerEndpoint],
         logger: Logger, fetchWaiters: FetchWaiters, producerIds: ProducerIdAllocator, groups: GroupCoordinator,
         transactions: TransactionCoordinator? = nil, metrics: BrokerMetrics, writer: any LogWriter, security: BrokerSecurity,
         cluster: ClusterNode? = nil) {
        precondition(!advertisedListeners.isEmpty, "a broker advertises at least one listener")
        self.security = security
        self.cluster = cluster
        self.transactions = TransactionCoordinators(single: transactions, partitions: cluster?.transactionPartitions, registry: registry)
        self.metrics = metrics
        self.writer = writer
        self.producerIds = producerIds
        self.groups = groups
        self.configs = configs
        self.identity = identity
        self.registry = registry
        self.advertisedListeners = advertisedListeners
        self.logger = logger
        self.fetchWaiters = fetchWaiters
    }

    /// The inter-broker listener's advertised address.
    public var advertisedHost: String { advertisedListeners[0].host }
    public var advertisedPort: Int32 { Int32(advertisedListeners[0].port) }

    /// Where a client that came in on `listener` reaches this broker.
    func advertised(on listener: String) -> ListenerEndpoint {
        advertisedListeners.first { $0.name == listener } ?? advertisedListeners[0]
    }

    /// The settings in force, static and dynamic.
    public var config: BrokerConfig { registry.brokerConfig }

    var nodeId: Int32 { identity.nodeId }

    func nowMs() -> Int64 { wallClockMilliseconds() }
}

func wallClockMilliseconds() -> Int64 {
    Int64((NIODeadline.now().uptimeNanoseconds / 1_000_000)) + bootEpochOffsetMs
}

/// Wall-clock milliseconds without Foundation: the realtime clock read once at start, advanced
/// by the monotonic clock (so timestamps never step backwards within a run).
let bootEpochOffsetMs: Int64 = {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    let wall = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    return wall - Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000)
}()
