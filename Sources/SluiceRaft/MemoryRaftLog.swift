/// The metadata log in memory, with what a disk would keep apart from what it would lose: a
/// crash drops everything appended after the last flush. Snapshots are kept at once. The
/// simulator and the tests run the quorum on it; the broker uses MetadataLogStore.
public final class MemoryRaftLog: RaftLog {
    public init() {}

    public private(set) var records: [RaftRecord] = []
    public private(set) var startOffset: Int64 = 0
    public private(set) var flushedEndOffset: Int64 = 0
    public private(set) var latestSnapshot: RaftSnapshot?
    /// Older snapshots, kept a while (Kafka keeps them for metadata.max.retention.ms) so that
    /// a follower halfway through fetching one can finish.
    public private(set) var olderSnapshots: [RaftSnapshot] = []

    public func snapshot(id: OffsetAndEpoch) -> RaftSnapshot? {
        latestSnapshot?.id == id ? latestSnapshot : olderSnapshots.first { $0.id == id }
    }

    public var end: OffsetAndEpoch {
        let endOffset = startOffset + Int64(records.count)
        if let last = records.last { return OffsetAndEpoch(offset: endOffset, epoch: last.epoch) }
        return OffsetAndEpoch(offset: endOffset, epoch: latestSnapshot?.id.epoch ?? 0)
    }

    public func append(_ newRecords: [RaftRecord]) {
        if let last = records.last ?? latestSnapshot.map({ RaftRecord(epoch: $0.id.epoch, payload: []) }) {
            precondition(newRecords.allSatisfy { $0.epoch >= last.epoch }, "epochs go back in an append")
        }
        records += newRecords
    }

    public func flush() { flushedEndOffset = end.offset }

    public func truncate(to offset: Int64) {
        precondition(offset >= startOffset, "truncation to \(offset) below the log start \(startOffset)")
        guard offset < end.offset else { return }
        records.removeLast(Int(end.offset - offset))
        flushedEndOffset = min(flushedEndOffset, offset)
    }

    public func read(from offset: Int64, maxRecords: Int) -> [RaftRecord] {
        guard offset >= startOffset, offset < end.offset else { return [] }
        let first = Int(offset - startOffset)
        return Array(records[first..<min(records.count, first + maxRecords)])
    }

    public func epoch(at offset: Int64) -> Int32? {
        if offset == startOffset - 1, let snapshot = latestSnapshot { return snapshot.id.epoch }
        guard offset >= startOffset, offset < end.offset else { return nil }
        return records[Int(offset - startOffset)].epoch
    }

    public func endOffset(forEpoch epoch: Int32) -> OffsetAndEpoch {
        EpochLookup.endOffset(forEpoch: epoch, recordEpochs: records.lazy.map(\.epoch), startOffset: startOffset,
                              snapshotId: latestSnapshot?.id)
    }

    public func storeSnapshot(_ snapshot: RaftSnapshot) {
        let offset = snapshot.id.offset
        if offset >= end.offset {
            records = []
        } else if offset > startOffset {
            records.removeFirst(Int(offset - startOffset))
        }
        startOffset = max(startOffset, offset)
        flushedEndOffset = max(flushedEndOffset, startOffset)
        if latestSnapshot.map({ $0.id.offset < offset }) ?? true {
            if let latest = latestSnapshot { olderSnapshots.append(latest) }
            if olderSnapshots.count > 16 { olderSnapshots.removeFirst() }
            latestSnapshot = snapshot
        }
    }

    /// The process died: what was not flushed is gone (and, on a lying disk, the last
    /// `lostFlushed` records that were).
    public func crash(lostFlushed: Int = 0) {
        flushedEndOffset = max(startOffset, flushedEndOffset - Int64(lostFlushed))
        let kept = Int(flushedEndOffset - startOffset)
        if kept < records.count { records.removeLast(records.count - kept) }
    }

    /// The record at `offset` if it is durable here.
    public func durableRecord(at offset: Int64) -> RaftRecord? {
        guard offset >= startOffset, offset < flushedEndOffset else { return nil }
        return records[Int(offset - startOffset)]
    }
}
