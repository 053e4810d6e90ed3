import Glibc
import KafkaProtocol
import Logging
import NIOCore

/// The leader-epoch cache of a partition log (`leader-epoch-checkpoint`): loading and rebuilding
/// it, a new leader's epoch, and Kafka's divergence check for followers' fetches.
extension PartitionLog {
    /// The checkpoint, made to agree with the log as it now is; rebuilt from the batches' own
    /// stamps when missing or unreadable (a log from before the checkpoint existed). The
    /// current epoch starts at the log end if the log has not seen it yet, as a new leader's does.
    func loadEpochs() throws {
        let path = directory + "/" + LeaderEpochCache.fileName
        var changed = false
        if let bytes = readWholeFile(path: path), let parsed = LeaderEpochCache.parse(bytes) {
            epochs = parsed
        } else {
            epochs = try rebuiltEpochs()
            changed = true
        }
        let before = epochs
        epochs.truncate(fromEnd: logEndOffset)
        epochs.truncate(fromStart: logStartOffset)
        if epochs.latestEpoch.map({ $0 < leaderEpoch }) ?? true { epochs.assign(epoch: leaderEpoch, startOffset: logEndOffset) }
        // A new or upgraded log's checkpoint can be rebuilt, so it is not worth an fsync.
        if changed || epochs != before { try saveEpochs(sync: false) }
    }

    func rebuiltEpochs() throws -> LeaderEpochCache {
        var rebuilt = LeaderEpochCache()
        for segment in segments {
            try segment.scanHeaders(from: 0, to: segment.size) { header, _ in
                if header.lastOffset >= logStartOffset && header.partitionLeaderEpoch >= 0
                    && rebuilt.latestEpoch.map({ header.partitionLeaderEpoch > $0 }) ?? true {
                    rebuilt.assign(epoch: header.partitionLeaderEpoch, startOffset: max(header.baseOffset, logStartOffset))
                }
                return true
            }
        }
        return rebuilt
    }

    func saveEpochs(sync: Bool) throws {
        try writeFileAtomically(path: directory + "/" + LeaderEpochCache.fileName, bytes: epochs.serialized(), sync: sync)
    }

    /// This replica leads from `epoch` on: later appends carry it and it starts at the log end
    /// (Kafka's makeLeader). An epoch no later than the current one changes nothing.
    public func becomeLeader(epoch: Int32) throws {
        guard epoch > leaderEpoch else { return }
        if let failure { throw failure }
        leaderEpoch = epoch
        changedSinceOpen = true
        if epochs.assign(epoch: epoch, startOffset: logEndOffset) { try saveEpochs(sync: true) }
    }

    /// Kafka's Partition.readRecords check for a fetch that names the epoch of its last fetched
    /// batch (Fetch v12+, followers): the end of that epoch here, when the fetcher's log has
    /// gone past it (its tail diverged and must be cut there), or nil when the fetch may read.
    /// An epoch this log cannot place, or an offset below the log start, is out of range.
    public func divergence(lastFetchedEpoch: Int32, fetchOffset: Int64) throws -> (epoch: Int32, endOffset: Int64)? {
        if let failure { throw failure }
        let end = epochs.endOffset(for: lastFetchedEpoch, logEndOffset: logEndOffset)
        guard end.epoch != LeaderEpochCache.undefinedEpoch, end.endOffset != LeaderEpochCache.undefinedOffset else {
            throw StorageError.offsetOutOfRange(requested: fetchOffset, logStartOffset: logStartOffset, logEndOffset: logEndOffset)
        }
        guard fetchOffset >= logStartOffset else {
            throw StorageError.offsetOutOfRange(requested: fetchOffset, logStartOffset: logStartOffset, logEndOffset: logEndOffset)
        }
        return end.epoch < lastFetchedEpoch || end.endOffset < fetchOffset ? end : nil
    }

    static let producerStateFile = "producer-state"
}
