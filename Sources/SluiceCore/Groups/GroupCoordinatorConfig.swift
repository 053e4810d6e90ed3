/// The coordinator's settings, by Kafka's names (broker settings of the same name).
public struct GroupCoordinatorConfig: Sendable {
    /// group.min.session.timeout.ms / group.max.session.timeout.ms: the session timeouts a member may ask for.
    public var minSessionTimeoutMs: Int32 = 6000
    public var maxSessionTimeoutMs: Int32 = 1_800_000
    /// group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits.
    public var initialRebalanceDelayMs: Int64 = 3000
    /// group.max.size
    public var maxGroupSize: Int = Int(Int32.max)
    /// How long a new member may wait in its first JoinGroup (Kafka's fixed 5 minutes).
    public var newMemberJoinTimeoutMs: Int64 = 300_000
    /// offsets.retention.minutes, in milliseconds.
    public var offsetsRetentionMs: Int64 = 7 * 24 * 3_600_000
    /// offsets.retention.check.interval.ms
    public var offsetsRetentionCheckIntervalMs: Int64 = 600_000
    /// offset.metadata.max.bytes
    public var offsetMetadataMaxBytes: Int = 4096

    public init() {}

    public init(broker: BrokerConfig) {
        minSessionTimeoutMs = Int32(clamping: broker.int("group.min.session.timeout.ms"))
        maxSessionTimeoutMs = Int32(clamping: broker.int("group.max.session.timeout.ms"))
        initialRebalanceDelayMs = Int64(broker.int("group.initial.rebalance.delay.ms"))
        maxGroupSize = broker.int("group.max.size")
        offsetsRetentionMs = Int64(broker.int("offsets.retention.minutes")) * 60_000
        offsetsRetentionCheckIntervalMs = broker.long("offsets.retention.check.interval.ms")
        offsetMetadataMaxBytes = broker.int("offset.metadata.max.bytes")
    }
}
