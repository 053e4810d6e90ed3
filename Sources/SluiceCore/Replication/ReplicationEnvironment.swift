import KafkaProtocol
import SluiceStorage
import Synchronization

/// What replication needs from outside the partition layer, injected so the simulator and the
/// broker drive the same code: a clock, the ISR lag limit, and a way to ask the controller for
/// an ISR change (AlterPartition; the answer comes back through `Partition.isrChangeAnswered`).
public struct ReplicationEnvironment: Sendable {
    public var clock: @Sendable () -> Int64
    /// Kafka's replica.lag.time.max.ms.
    public var maxLagMs: Int64
    public var proposeIsr: @Sendable (Partition, IsrProposal) -> Void
    public var statistics: ReplicationStatistics

    public init(clock: @escaping @Sendable () -> Int64, maxLagMs: Int64, statistics: ReplicationStatistics = ReplicationStatistics(),
                proposeIsr: @escaping @Sendable (Partition, IsrProposal) -> Void) {
        self.clock = clock
        self.maxLagMs = maxLagMs
        self.statistics = statistics
        self.proposeIsr = proposeIsr
    }

    /// A broker of its own: its partitions have no other replicas, so nothing here is called.
    public static let standalone = ReplicationEnvironment(clock: { 0 }, maxLagMs: .max, proposeIsr: { _, _ in })
}

/// ISR changes this broker's leaders made (for /metrics: Kafka's IsrShrinksPerSec and
/// IsrExpandsPerSec, as totals).
public final class ReplicationStatistics: Sendable {
    private let shrinkCount = Atomic<Int>(0)
    private let expandCount = Atomic<Int>(0)

    public init() {}

    public var isrShrinks: Int { shrinkCount.load(ordering: .relaxed) }
    public var isrExpands: Int { expandCount.load(ordering: .relaxed) }

    public func recordIsrChange(from old: Int, to new: Int) {
        if new < old { shrinkCount.wrappingAdd(1, ordering: .relaxed) }
        if new > old { expandCount.wrappingAdd(1, ordering: .relaxed) }
    }
}

/// An ISR change a leader asks the controller for, at the epochs it knows.
public struct IsrProposal: Sendable, Equatable {
    public var topicId: KafkaUUID
    public var partition: Int32
    public var leaderEpoch: Int32
    public var partitionEpoch: Int32
    public var newIsr: [Int32]
    /// The ISR it changes (for counting shrinks and expansions).
    public var currentIsr: [Int32] = []
    /// The broker epoch each follower in `newIsr` last fetched under, where it said (KIP-903).
    public var brokerEpochs: [Int32: Int64] = [:]
}

/// A partition's replication state on this broker, confined to its owner.
struct ReplicationState {
    /// While this broker leads a partition with other replicas: what it knows of them.
    var tracker: ReplicaTracker?
    var trackerEpoch: Int32 = -1
    /// The ISR change sent to the controller and not answered yet (one at a time, as Kafka's).
    var pendingIsr: IsrProposal?
    var proposalRefusedAtMs: Int64?
    var waiters: [ReplicationWaiter] = []
    var nextWaiterId = 0
    var isrCheck: (any LogScheduledTask)?
}

/// An acks=all produce waiting for the high watermark to pass its records.
struct ReplicationWaiter {
    let id: Int
    let endOffset: Int64
    let minInsync: Int
    let timeout: any LogScheduledTask
    let completion: (KafkaErrorCode) -> Void
}
