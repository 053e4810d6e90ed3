import KafkaProtocol
import NIOCore

/// A consumed record.
public struct ConsumerRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    public var timestamp: Int64
    public var timestampType: TimestampType
}

/// What to do where a partition has no committed offset (or it is out of range).
public enum OffsetResetPolicy: String, Sendable {
    case earliest, latest, none
}

/// Where `seek` moves a partition.
public enum SeekPosition: Sendable, Hashable {
    case offset(Int64)
    case beginning
    case end
    /// The first record at or after this timestamp (ms); the end when there is none.
    case timestamp(Int64)
}

/// Consumer settings; defaults follow the Java client where it has one.
public struct KafkaConsumerConfig: Sendable {
    public var client: KafkaClientConfig
    /// `group.id`: where committed offsets are kept (and, with `subscribe`, the group joined).
    public var groupId: String?
    /// `auto.offset.reset`
    public var autoOffsetReset: OffsetResetPolicy = .latest
    /// `fetch.max.wait.ms` and `fetch.min.bytes`: how long a fetch waits for data.
    public var fetchMaxWait: Duration = .milliseconds(500)
    public var fetchMinBytes: Int32 = 1
    /// `max.partition.fetch.bytes` and `fetch.max.bytes`
    public var maxPartitionFetchBytes: Int32 = 1 << 20
    public var fetchMaxBytes: Int32 = 50 << 20
    /// Records fetched ahead of the application before fetching pauses.
    public var maxPrefetchedRecords = 20_000
    /// `session.timeout.ms`, `heartbeat.interval.ms`, and `max.poll.interval.ms` (sent as the
    /// rebalance timeout) for `subscribe`.
    public var sessionTimeout: Duration = .seconds(45)
    public var heartbeatInterval: Duration = .seconds(3)
    public var rebalanceTimeout: Duration = .seconds(300)
    /// `group.instance.id`: static membership (KIP-345). A static member that restarts within
    /// the session timeout gets its partitions back without a rebalance; it does not send
    /// LeaveGroup on close.
    public var groupInstanceId: String?
    /// `partition.assignment.strategy`: the assignors offered when joining, preferred first.
    /// The group uses one every member offers. When all offered assignors are cooperative the
    /// member follows the cooperative protocol (KIP-429): it keeps consuming the partitions it
    /// retains through a rebalance and gives up only those that move.
    public var assignmentStrategies: [PartitionAssignmentStrategy] = [.range]
    /// `enable.auto.commit` and `auto.commit.interval.ms` for `subscribe`: positions are
    /// committed periodically, before partitions are revoked, and at close.
    public var enableAutoCommit = true
    public var autoCommitInterval: Duration = .seconds(5)
    /// `enable.auto.offset.store` (librdkafka's name): when true, what a commit stores for a
    /// partition is the position the application has reached (a record counts once it is handed
    /// out). When false, only offsets the application passes to `storeOffsets` are committed —
    /// by auto-commit, before a revoke, at close and by `commit()` without offsets — so that an
    /// application whose work is not done when it takes a record (buffered output, say) commits
    /// only what it has finished.
    public var enableAutoOffsetStore = true
    /// `isolation.level`: with `.readCommitted` the consumer reads up to the last stable offset
    /// and never sees records of aborted transactions (nor of open ones, until they commit).
    public var isolationLevel: IsolationLevel = .readUncommitted

    public init(client: KafkaClientConfig) {
        self.client = client
    }
}

/// Which records of transactions a consumer sees (`isolation.level`).
public enum IsolationLevel: Int8, Sendable {
    /// Everything written, committed or not (Kafka's default).
    case readUncommitted = 0
    /// Committed transactions and non-transactional records only, up to the last stable offset.
    case readCommitted = 1
}

/// How a group's leader divides partitions among members.
public enum PartitionAssignmentStrategy: String, Sendable, CaseIterable {
    /// Kafka's `range`: per topic, consecutive ranges of partitions; eager rebalancing.
    case range
    /// Kafka's `cooperative-sticky`: partitions stay where they were; incremental rebalancing.
    case cooperativeSticky = "cooperative-sticky"

    var isCooperative: Bool { self == .cooperativeSticky }
}
