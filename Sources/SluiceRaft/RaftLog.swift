/// One record of the metadata log: the epoch of the leader that appended it and its bytes
/// (a metadata record, framed as Kafka frames them). Control records (a new leader's
/// LeaderChangeMessage) are not handed to the state machine.
public struct RaftRecord: Sendable, Equatable {
    public var epoch: Int32
    public var payload: [UInt8]
    public var isControl: Bool

    public init(epoch: Int32, payload: [UInt8], isControl: Bool = false) {
        self.epoch = epoch
        self.payload = payload
        self.isControl = isControl
    }
}

/// A snapshot of the state machine at `id.offset`: it replaces every record below that offset,
/// so the log stays bounded. `id.epoch` is the epoch of the last record it covers.
public struct RaftSnapshot: Sendable, Equatable {
    public var id: OffsetAndEpoch
    public var data: [UInt8]

    public init(id: OffsetAndEpoch, data: [UInt8]) {
        self.id = id
        self.data = data
    }
}

/// The replicated log as the Raft core sees it: records from `startOffset` (the latest
/// snapshot's end, or 0) to `end`, of which everything below `flushedEndOffset` is durable.
/// The broker stores it with SluiceStorage; the simulator keeps it in memory and drops the
/// unflushed tail when it crashes a node. Called only from the replica's owner.
public protocol RaftLog: AnyObject {
    var startOffset: Int64 { get }
    /// The next offset to write and the epoch of the last record (or of the snapshot the log
    /// starts at, or 0 for an empty log).
    var end: OffsetAndEpoch { get }
    var flushedEndOffset: Int64 { get }
    var latestSnapshot: RaftSnapshot? { get }
    /// A snapshot still kept (the latest, or an older one a follower may be fetching).
    func snapshot(id: OffsetAndEpoch) -> RaftSnapshot?

    // Writes throw when the disk fails; the replica passes the error up and its host must stop
    // the quorum member (Kafka halts): a log that may have lost a write cannot vote or serve.

    /// Appends at `end.offset`.
    func append(_ records: [RaftRecord]) throws
    /// Makes everything appended so far durable.
    func flush() throws
    /// Removes the records at `offset` and after; `offset` is at or above `startOffset`.
    func truncate(to offset: Int64) throws
    /// Up to `maxRecords` records from `offset` (at or above `startOffset`).
    func read(from offset: Int64, maxRecords: Int) -> [RaftRecord]
    /// The epoch of the record at `offset`, if the log holds it.
    func epoch(at offset: Int64) -> Int32?
    /// Kafka's endOffsetForEpoch: the largest epoch at or below `epoch` that the log knows and
    /// the offset where it ended (the next epoch's first offset, or the log end for the last
    /// epoch). An epoch older than every record gives the snapshot's id when the log starts at
    /// one, otherwise `epoch` itself with the first record's offset; an epoch newer than every
    /// record gives `epoch` with the log end.
    func endOffset(forEpoch epoch: Int32) -> OffsetAndEpoch
    /// Stores a snapshot (durably) and drops the records below it. A snapshot at or beyond the
    /// log end (one fetched from the leader) replaces the whole log.
    func storeSnapshot(_ snapshot: RaftSnapshot) throws
}

extension RaftLog {
    /// Kafka's ReplicatedLog.truncateToEndOffset: where a follower cuts its log when the
    /// leader says the two diverge after `divergingEnd` — the end of that epoch in this log,
    /// capped by the leader's end of it.
    func truncationOffset(forDivergingEnd divergingEnd: OffsetAndEpoch) -> Int64 {
        if divergingEnd.epoch == 0 { return min(divergingEnd.offset, end.offset) }
        let local = endOffset(forEpoch: divergingEnd.epoch)
        if local.epoch == divergingEnd.epoch { return min(local.offset, divergingEnd.offset) }
        return local.offset
    }
}

/// Kafka's endOffsetForEpoch over a log given as the epochs of its records in order (from
/// `startOffset`), for logs that keep their records in memory: the simulator's and the
/// broker's metadata log. A snapshot's epoch stands at the log start.
public enum EpochLookup {
    public static func endOffset<Epochs: Sequence<Int32>>(forEpoch epoch: Int32, recordEpochs: Epochs, startOffset: Int64,
                                                           snapshotId: OffsetAndEpoch?) -> OffsetAndEpoch {
        var boundaries: [(epoch: Int32, start: Int64)] = []
        if let snapshotId { boundaries.append((snapshotId.epoch, snapshotId.offset)) }
        var offset = startOffset
        for recordEpoch in recordEpochs {
            if boundaries.last?.epoch != recordEpoch { boundaries.append((recordEpoch, offset)) }
            offset += 1
        }
        let end = offset
        guard let latest = boundaries.last else { return OffsetAndEpoch(offset: end, epoch: 0) }
        if epoch >= latest.epoch { return OffsetAndEpoch(offset: end, epoch: latest.epoch) }
        guard let higher = boundaries.first(where: { $0.epoch > epoch }) else { return OffsetAndEpoch(offset: end, epoch: latest.epoch) }
        if let floor = boundaries.last(where: { $0.epoch <= epoch }) {
            return OffsetAndEpoch(offset: higher.start, epoch: floor.epoch)
        }
        if let snapshotId { return snapshotId }
        return OffsetAndEpoch(offset: higher.start, epoch: epoch)
    }
}
