import Glibc
import KafkaProtocol
import Logging
import NIOCore

/// Where a partition log loses records: truncation, DeleteRecords and retention, and the
/// checkpoints that remember it.
extension PartitionLog {
    // MARK: Truncation, DeleteRecords, retention

    /// Removes the batch containing `offset` and everything after it (replication uses this
    /// to cut a diverged tail). Must not be called with appends in flight.
    public func truncate(to offset: Int64) throws {
        precondition(inFlight.isEmpty, "truncate with appends in flight")
        guard offset < logEndOffset else { return }
        changedSinceOpen = true
        segmentGeneration &+= 1
        let target = max(offset, logStartOffset)
        while segments.count > 1, let last = segments.last, last.baseOffset >= target {
            segments.removeLast()
            last.deleteFiles()
        }
        let active = segments.last!
        if active.baseOffset >= target {
            // Everything goes: start an empty segment at the target.
            active.deleteFiles()
            segments.removeLast()
            segments.append(try LogSegment.create(directory: directory, baseOffset: target, files: files,
                                                  nowMs: active.createdMs, indexIntervalBytes: config.indexIntervalBytes))
        } else {
            try active.truncate(toOffset: target)
        }
        let end = segments.last!
        if highWatermark >= end.nextOffset {
            highWatermark = end.nextOffset
            highWatermarkLocation = (end.baseOffset, end.size)
        }
        stableEnd = end.nextOffset
        stableEndLocation = (end.baseOffset, end.size)
        durableOffset = min(durableOffset, end.nextOffset)
        try end.writeIndexes(sync: false)
        epochs.truncate(fromEnd: logEndOffset)
        try saveEpochs(sync: true)
        // A snapshot may describe batches that are gone now.
        unlink(directory + "/" + Self.producerStateFile)
        producerState = ProducerStateTable()
        try replayProducerState(from: logStartOffset)
    }

    /// Empties the log and starts it again at `offset` (Kafka's truncateFullyAndStartAt): a
    /// follower whose log ends before the leader's log start, or lies beyond its end, can keep
    /// nothing it has. Must not be called with appends in flight.
    public func truncateFully(startingAt offset: Int64) throws {
        precondition(inFlight.isEmpty, "truncate with appends in flight")
        if let failure { throw failure }
        changedSinceOpen = true
        segmentGeneration &+= 1
        let createdMs = segments.last!.createdMs
        for segment in segments { segment.deleteFiles() }
        segments = [try LogSegment.create(directory: directory, baseOffset: offset, files: files, nowMs: createdMs,
                                          indexIntervalBytes: config.indexIntervalBytes)]
        logStartOffset = offset
        try saveLogStartOffset()
        highWatermark = offset
        highWatermarkLocation = (offset, 0)
        stableEnd = offset
        stableEndLocation = (offset, 0)
        durableOffset = offset
        epochs = LeaderEpochCache()
        try saveEpochs(sync: true)
        unlink(directory + "/" + Self.producerStateFile)
        producerState = ProducerStateTable()
        completedAboveHighWatermark.removeAll()
        saveRecoveryPoint()
    }

    /// DeleteRecords: moves the log start offset forward (never past the high watermark) and
    /// deletes segments that lie wholly below it. Returns the new log start offset; an offset
    /// below the log start changes nothing. A negative offset or one past the high watermark is
    /// out of range, as in Kafka (the caller turns -1 into the high watermark first).
    @discardableResult
    public func deleteRecords(before offset: Int64) throws -> Int64 {
        guard offset >= 0, offset <= highWatermark else {
            throw StorageError.offsetOutOfRange(requested: offset, logStartOffset: logStartOffset, logEndOffset: logEndOffset)
        }
        guard offset > logStartOffset else { return logStartOffset }
        changedSinceOpen = true
        logStartOffset = offset
        try saveLogStartOffset()
        epochs.truncate(fromStart: offset)
        try saveEpochs(sync: false)
        deleteSegments { index, segment in
            index + 1 < self.segments.count && self.segments[index + 1].baseOffset <= offset
        }
        return logStartOffset
    }

    /// Deletes whole segments past `retention.ms` (by their newest timestamp) or beyond
    /// `retention.bytes`, oldest first; the active segment is rolled first when it alone has
    /// expired. Returns how many segments were deleted. Files stay open for fetches in flight.
    @discardableResult
    public func applyRetention(nowMs: Int64) throws -> Int {
        var deleted = 0
        guard config.retentionEnabled else { return 0 }
        if config.retentionMs >= 0 {
            let cutoff = nowMs - config.retentionMs
            if let active = segments.last, segments.count == 1 || segments.allSatisfy({ $0.retentionTimestamp < cutoff }),
               active.size > 0, active.maxTimestamp < cutoff, inFlight.isEmpty {
                try roll(nowMs: nowMs)
            }
            deleted += deleteSegments { index, segment in
                index + 1 < self.segments.count && segment.retentionTimestamp < cutoff && segment.nextOffset <= self.highWatermark
            }
        }
        if config.retentionBytes >= 0 {
            var excess = sizeInBytes - config.retentionBytes
            deleted += deleteSegments { index, segment in
                guard index + 1 < self.segments.count, excess >= segment.size else { return false }
                excess -= segment.size
                return true
            }
        }
        return deleted
    }

    /// Deletes the oldest segments while `shouldDelete` holds; keeps at least one segment.
    @discardableResult
    func deleteSegments(while shouldDelete: (Int, LogSegment) -> Bool) -> Int {
        var count = 0
        while segments.count > 1, shouldDelete(0, segments[0]) {
            changedSinceOpen = true
            segmentGeneration &+= 1
            let segment = segments.removeFirst()
            segment.deleteFiles()
            count += 1
            if logStartOffset < segments[0].baseOffset {
                logStartOffset = segments[0].baseOffset
                try? saveLogStartOffset()
                epochs.truncate(fromStart: logStartOffset)
                try? saveEpochs(sync: false)
            }
            logger.info("deleted segment", metadata: ["directory": "\(directory)", "base": "\(segment.baseOffset)"])
        }
        return count
    }

    /// Records the offset below which every byte is known to be on disk, so recovery after a
    /// crash checks only the segments from there on. Written on roll and after background flushes.
    func saveRecoveryPoint() {
        let point = min(durableOffset, stableEnd)
        // Only whole segments below the point are skipped by recovery, so saving the base of the
        // segment that holds it is enough and changes rarely.
        let base = segments[segmentIndex(containing: point)].baseOffset
        guard base != savedRecoveryPoint else { return }
        var bytes = [UInt8]()
        bytes.appendBigEndian(UInt64(bitPattern: base))
        if (try? writeFileAtomically(path: directory + "/" + LogLoader.recoveryPointFile, bytes: bytes, sync: true)) != nil {
            savedRecoveryPoint = base
        }
    }

    func saveLogStartOffset(sync: Bool = true) throws {
        var bytes = [UInt8]()
        bytes.appendBigEndian(UInt64(bitPattern: logStartOffset))
        try writeFileAtomically(path: directory + "/" + LogLoader.logStartOffsetFile, bytes: bytes, sync: sync)
    }
}
