import KafkaProtocol
import NIOCore

/// A follower's side of a partition log (Kafka's UnifiedLog.appendAsFollower): batches fetched
/// from the leader are stored as the leader stored them — offsets, leader epochs, producer ids
/// and CRCs all the leader's, no byte re-encoded — and the epoch cache and producer state are
/// rebuilt from them as they arrive, so this replica can lead with the same history.
extension PartitionLog {
    /// Appends the whole batches at the front of `records` (a fetch response's records; a last
    /// batch cut short is left for the next fetch). Each must start where the log ends (or later,
    /// past whole batches the leader's cleaner removed), carry a
    /// good CRC and an epoch no older than the last; otherwise nothing is appended and the
    /// error says why. Returns the log end after them; `completion` runs on the owner when all
    /// of them are written and, under the durable default, fdatasync'd — a follower fetches
    /// past them only then, so what the leader counts as replicated is on this disk.
    @discardableResult
    public func appendAsFollower(_ records: ByteBuffer, nowMs: Int64,
                                 completion: @escaping (Result<Int64, StorageError>) -> Void) throws -> Int64 {
        if let failure { throw failure }
        var remaining = records
        var batches: [RecordBatch] = []
        var expected = logEndOffset
        var gapsBelow: Int64?
        var latestEpoch = epochs.latestEpoch ?? -1
        while let batch = try RecordBatch.next(from: &remaining, allowPartialTail: true) {
            let header = batch.header
            guard header.magic == 2 else { throw StorageError.invalidBatch("magic \(header.magic) from the leader") }
            // Later than the log end only where the leader's cleaner removed whole batches.
            guard header.baseOffset >= expected, header.lastOffsetDelta >= 0 else {
                throw StorageError.invalidBatch("the leader's batch starts at \(header.baseOffset) where this log ends at \(expected)")
            }
            if header.baseOffset > expected { gapsBelow = header.lastOffset + 1 }
            guard header.partitionLeaderEpoch >= latestEpoch else {
                throw StorageError.invalidBatch("the leader's batch at \(header.baseOffset) has epoch \(header.partitionLeaderEpoch) "
                                                + "after epoch \(latestEpoch)")
            }
            guard batch.computedCRC == header.crc else {
                throw StorageError.invalidBatch("CRC mismatch in the leader's batch at offset \(header.baseOffset)")
            }
            latestEpoch = header.partitionLeaderEpoch
            expected = header.lastOffset + 1
            batches.append(batch)
        }
        guard !batches.isEmpty else {
            completion(.success(logEndOffset))
            return logEndOffset
        }
        changedSinceOpen = true
        if let gapsBelow { try allowGaps(below: gapsBelow) }
        // The epoch cache first, durably: recovery trusts a batch's epoch only up to the latest
        // epoch the cache names, and OffsetForLeaderEpoch must place these offsets.
        var epochsChanged = false
        for batch in batches where batch.header.partitionLeaderEpoch >= 0 {
            if epochs.assign(epoch: batch.header.partitionLeaderEpoch, startOffset: batch.header.baseOffset) { epochsChanged = true }
        }
        if epochsChanged { try saveEpochs(sync: true) }
        leaderEpoch = max(leaderEpoch, latestEpoch)

        let durable = config.isDurableOnAppend
        let owner = self.owner
        // The last batch registered reports success; the first failure reports itself (a failed
        // write fails every later one too, see failAppends).
        let report = FollowerAppendReport(completion)
        for batch in batches {
            let header = batch.header
            let segment: LogSegment
            let file: SegmentFile
            do {
                try rollIfNeeded(incoming: header, nowMs: nowMs)
                segment = segments.last!
                file = try segment.file()
            } catch {
                // Batches already under way report when written; with none, the caller hears now.
                guard report.lastEnd >= 0 else { throw error }
                break
            }
            let position = segment.size
            segment.recordAppend(header: header, position: position, nowMs: nowMs)
            if header.producerId >= 0 {
                replayProducerState(of: header, bytes: { batch.bytes }, timestamp: header.maxTimestamp, segment: segment)
            }
            unflushedMessages += Int64(header.recordCount)
            let end = header.lastOffset + 1
            report.lastEnd = end
            let info = LogAppendInfo(firstOffset: header.baseOffset, lastOffset: header.lastOffset, logAppendTimeMs: -1,
                                     logStartOffset: logStartOffset)
            let id = nextAppendID
            nextAppendID += 1
            inFlight.append(PendingAppend(id: id, endOffset: end, segmentBase: segment.baseOffset, startPosition: position,
                                          endPosition: position + Int64(header.totalSize), synced: durable,
                                          completion: { [self] result in
                                              switch result {
                                              case .success:
                                                  report.finish(ifLast: end, with: .success(end))
                                              case .failure(let error):
                                                  if !report.done { rebuildProducerState() }
                                                  report.finish(ifLast: nil, with: .failure(error))
                                              }
                                          },
                                          info: info, producerBefore: nil))
            writer.submit([WriteRequest(file: file, position: position, data: batch.bytes, sync: durable) { [self] result in
                owner.execute { self.writeCompleted(id: id, result: result) }
            }])
        }
        if !durable { maybeScheduleBackgroundFlush(nowMs: nowMs) }
        return report.lastEnd
    }

    /// After a failed follower append was rolled back: producer state from the batches that
    /// are still in the log (follower appends keep no per-batch undo).
    func rebuildProducerState() {
        producerState = ProducerStateTable()
        do {
            try replayProducerState(from: logStartOffset)
        } catch {
            failure = .offline(reason: "producer state could not be rebuilt: \(error)")
        }
    }

    /// Whether appends are still being written (a follower truncates only when none are).
    public var hasAppendsInFlight: Bool { !inFlight.isEmpty }
}

/// Reports a follower append once: when its last batch is written, or at the first failure.
/// Used only on the log's owner.
private final class FollowerAppendReport {
    let completion: (Result<Int64, StorageError>) -> Void
    var lastEnd: Int64 = -1
    var done = false

    init(_ completion: @escaping (Result<Int64, StorageError>) -> Void) {
        self.completion = completion
    }

    func finish(ifLast end: Int64?, with result: Result<Int64, StorageError>) {
        guard !done, end == nil || end == lastEnd else { return }
        done = true
        completion(result)
    }
}
