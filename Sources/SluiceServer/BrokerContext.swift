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
    public let advertisedHost: String
    public let advertisedPort: Int32
    public let logger: Logger
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

    init(configs: BrokerConfigManager, identity: ClusterIdentity, registry: TopicRegistry, advertisedHost: String,
         advertisedPort: Int32, logger: Logger, fetchWaiters: FetchWaiters, producerIds: ProducerIdAllocator,
         groups: GroupCoordinator, transactions: TransactionCoordinator? = nil, metrics: BrokerMetrics, writer: any LogWriter,
         cluster: ClusterNode? = nil) {
        self.cluster = cluster
        self.transactions = TransactionCoordinators(single: transactions, partitions: cluster?.transactionPartitions, registry: registry)
        self.metrics = metrics
        self.writer = writer
        self.producerIds = producerIds
        self.groups = groups
        self.configs = configs
        self.identity = identity
        self.registry = registry
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
        self.logger = logger
        self.fetchWaiters = fetchWaiters
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
