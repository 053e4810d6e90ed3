import KafkaProtocol

/// Per-log settings, named after Kafka's topic configs.
///
/// One deliberate difference from Kafka: `flushMessages` defaults to 1, which in Sluice means
/// an append is acknowledged only after an fdatasync that covers it (group-committed across
/// partitions). Setting `flushMessages` and `flushMs` as Kafka's defaults do (Int64.max) gives
/// Kafka's behaviour: acknowledge after the write, fsync in the background.
public struct LogConfig: Sendable, Hashable {
    /// `segment.bytes`: roll to a new segment past this size.
    public var segmentBytes: Int64 = 1 << 30
    /// `segment.ms`: roll a segment this old (by its first append time).
    public var segmentMs: Int64 = 7 * 24 * 3_600_000
    /// `segment.jitter.ms`: each segment rolls up to this much earlier, chosen at random when it
    /// is created, so that partitions created together do not all roll at once.
    public var segmentJitterMs: Int64 = 0
    /// `retention.ms`: delete whole segments whose newest timestamp is older; -1 keeps forever.
    public var retentionMs: Int64 = 7 * 24 * 3_600_000
    /// `retention.bytes`: delete oldest segments while the log is larger; -1 means no limit.
    public var retentionBytes: Int64 = -1
    /// `cleanup.policy` lists `delete`: time and size retention run. Without it (an empty
    /// policy) the log keeps everything, as Kafka's does.
    public var retentionEnabled = true
    /// `cleanup.policy` lists `compact`: the log cleaner keeps each key's latest record.
    public var compactionEnabled = false
    /// `min.cleanable.dirty.ratio`: the share of a compacted log not yet cleaned before it is.
    public var minCleanableDirtyRatio = 0.5
    /// `min.compaction.lag.ms`: records younger than this are not cleaned.
    public var minCompactionLagMs: Int64 = 0
    /// `max.compaction.lag.ms`: a log with a record waiting longer is cleaned whatever its ratio.
    public var maxCompactionLagMs: Int64 = Int64.max
    /// `delete.retention.ms`: how long a tombstone stays readable once a cleaning has kept it.
    public var deleteRetentionMs: Int64 = 86_400_000
    /// `flush.messages`: 1 (the default here) acknowledges only after fdatasync; larger values
    /// fsync in the background once that many messages are unflushed.
    public var flushMessages: Int64 = 1
    /// `flush.ms`: fsync in the background at least this often (when not already durable).
    public var flushMs: Int64 = Int64.max
    /// `index.interval.bytes`: bytes between sparse offset/time index entries.
    public var indexIntervalBytes: Int = 4096
    /// `message.timestamp.type`: CreateTime keeps producer timestamps; LogAppendTime stamps batches.
    public var timestampType: TimestampType = .createTime
    /// `file.delete.delay.ms` has no counterpart: a deleted segment's file closes when its last
    /// reader is done.

    /// `producer.id.expiration.ms`: forget an idempotent producer's state after this long idle.
    public var producerIdExpirationMs: Int64 = 86_400_000

    public init() {}

    /// How old the active segment may get (Kafka's maxSegmentMs): a compacted log also rolls by
    /// `max.compaction.lag.ms`, or a record could wait in the never-cleaned active segment longer.
    public var maxSegmentMs: Int64 {
        compactionEnabled && maxCompactionLagMs > 0 ? min(maxCompactionLagMs, segmentMs) : segmentMs
    }

    /// True when an append is acknowledged only after an fdatasync covering it.
    public var isDurableOnAppend: Bool { flushMessages <= 1 }

}
