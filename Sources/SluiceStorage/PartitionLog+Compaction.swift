import Glibc
import KafkaProtocol
import Logging

/// The log's side of compaction, on its owner: what may be cleaned (`cleaningPlan`) and the
/// atomic swap of cleaned segments (`swapIn`). The cleaning itself (`SegmentCleaner`) runs off
/// the owner, on files the plan holds open.
extension PartitionLog {
    /// The durable steps of a swap, for crash tests that stop the process after one.
    public enum SwapStep: String, CaseIterable, Sendable {
        /// `<base>.log.<end>.cleaned` renamed to `.swap` and the directory synced: from here a
        /// restart finishes the swap.
        case committed
        /// The replaced segments' files removed (the first one's `.log` stays until the rename).
        case replacedRemoved
        /// The swap file renamed to `<base>.log`, indexes in place, directory synced.
        case renamed
    }

    /// What a cleaning of this log would cover now, or nil when nothing is cleanable. Cleanable
    /// are whole closed segments below the last stable offset, below what is fdatasync'd (so
    /// recovery never has to check a cleaned segment) and older than `min.compaction.lag.ms`;
    /// the active segment never is. `firstDirtyOffset` is the cleaner checkpoint (below the
    /// log start, it counts from the log start).
    /// `evenIfClean` plans a pass over the clean part alone (tombstones whose horizon passed).
    public func cleaningPlan(firstDirtyOffset: Int64, nowMs: Int64, deleteRetentionMs: Int64,
                             minCompactionLagMs: Int64, evenIfClean: Bool = false) -> CleaningPlan? {
        precondition(owner.isCurrent, "a log is used on its owner only")
        guard failure == nil, segments.count > 1 else { return nil }
        // Never past the last stable offset: an undecided transaction's records must stay.
        let limit = min(lastStableOffset, durableOffset, segments[segments.count - 1].baseOffset)
        var chosen: [CleaningPlan.Segment] = []
        for index in 0..<(segments.count - 1) {
            let segment = segments[index]
            let nextBase = segments[index + 1].baseOffset
            guard nextBase <= limit else { break }
            if minCompactionLagMs > 0 && segment.maxTimestamp > nowMs - minCompactionLagMs { break }
            guard let file = try? segment.file() else { break }
            chosen.append(.init(baseOffset: segment.baseOffset, size: segment.size, nextBase: nextBase, file: file))
        }
        guard !chosen.isEmpty else { return nil }
        var lastOffsets: [Int64: Int64] = [:]
        for (id, producer) in producerState.producers {
            if let last = producer.batches.last { lastOffsets[id] = last.lastOffset }
        }
        // A checkpoint past the end belongs to another log of this name: start from the beginning.
        let firstDirty = firstDirtyOffset > logEndOffset ? logStartOffset : max(firstDirtyOffset, logStartOffset)
        var plan = CleaningPlan(directory: directory, segments: chosen, firstDirtyOffset: firstDirty,
                                producerLastOffsets: lastOffsets, segmentBytes: config.segmentBytes,
                                indexIntervalBytes: config.indexIntervalBytes, deleteRetentionMs: deleteRetentionMs,
                                nowMs: nowMs, generation: segmentGeneration)
        plan.abortedTransactions = abortedTransactions(from: logStartOffset, upTo: chosen[chosen.count - 1].nextBase)
        return plan.isEmpty && !evenIfClean ? nil : plan
    }

    /// Replaces the cleaned segments by their cleaned groups, each atomically on disk: a crash
    /// at any step leaves either the old segments or the new one (`LogLoader` finishes a
    /// committed swap). Returns false, removing the cleaned files, when the log's segments
    /// changed since the plan (truncated, retention ran): that cleaning is void. `afterStep`
    /// runs after each durable step: crash tests kill the process there, or throw to stop.
    @discardableResult
    public func swapIn(_ outcome: CleaningOutcome, afterStep: (SwapStep) throws -> Void = { _ in }) throws -> Bool {
        precondition(owner.isCurrent, "a log is used on its owner only")
        if let failure { throw failure }
        guard outcome.generation == segmentGeneration, outcome.groups.allSatisfy({ placement(of: $0) != nil }) else {
            for group in outcome.groups { Self.removeCleanedFiles(of: group, in: directory) }
            return false
        }
        changedSinceOpen = true
        segmentGeneration &+= 1
        // Recovery must know where gaps are legitimate before any swap can commit.
        if let end = outcome.groups.map(\.endOffset).max() { try allowGaps(below: end) }
        for group in outcome.groups {
            guard let first = placement(of: group) else { continue }
            let replaced = segments[first..<(first + group.replaces.count)]
            // The replaced segments' aborted transactions stay while their markers do; the
            // entries of dropped ABORT markers go with them (a consumer given one would skip
            // that producer's later transactions, the marker that ends it being gone).
            let kept = replaced.flatMap { $0.transactionIndex.entries }.filter { !group.droppedAbortMarkers.contains($0.lastOffset) }
            try swapFiles(of: group, abortedTransactions: kept, afterStep: afterStep)
            let segment = LogSegment.cleaned(directory: directory, baseOffset: group.baseOffset, files: files, size: group.size,
                                             nextOffset: group.endOffset, offsetIndex: group.offsetIndex, timeIndex: group.timeIndex,
                                             maxTimestamp: group.maxTimestamp, offsetOfMaxTimestamp: group.offsetOfMaxTimestamp,
                                             createdMs: replaced.first?.createdMs ?? 0, indexIntervalBytes: config.indexIntervalBytes)
            segments.replaceSubrange(first..<(first + group.replaces.count), with: [segment])
        }
        return true
    }

    /// Where the segments a group replaces are now: their index, when they are all still there
    /// unchanged, closed, and followed by the segment at the group's end.
    private func placement(of group: CleanedGroup) -> Int? {
        guard let first = segments.firstIndex(where: { $0.baseOffset == group.baseOffset }) else { return nil }
        let end = first + group.replaces.count
        guard end < segments.count, segments[end].baseOffset == group.endOffset else { return nil }
        for (offset, segment) in segments[first..<end].enumerated() {
            guard segment.baseOffset == group.replaces[offset], segment.size == group.replacedSizes[offset] else { return nil }
        }
        return first
    }

    private func swapFiles(of group: CleanedGroup, abortedTransactions: [AbortedTransaction], afterStep: (SwapStep) throws -> Void) throws {
        let base = group.baseOffset
        func path(_ name: String) -> String { directory + "/" + name }
        let cleanedLog = path(SegmentCleaner.cleanedName(baseOffset: base, endOffset: group.endOffset, suffix: ".log"))
        let cleanedTransactions = path(SegmentCleaner.cleanedName(baseOffset: base, endOffset: group.endOffset, suffix: ".txnindex"))
        let swap = path(SegmentCleaner.swapName(baseOffset: base, endOffset: group.endOffset))
        // Written before the commit: a restart that finishes the swap renames it in place.
        if !abortedTransactions.isEmpty {
            try writeFileAtomically(path: cleanedTransactions, bytes: abortedTransactions.flatMap(\.bytes), sync: true)
        }
        try renameOrThrow(cleanedLog, swap)
        try syncDirectoryOrThrow()
        try afterStep(.committed)
        for replaced in group.replaces {
            let name = LogSegment.fileName(baseOffset: replaced, suffix: ".log")
            files.forget(path: path(name))
            unlink(path(LogSegment.fileName(baseOffset: replaced, suffix: ".index")))
            unlink(path(LogSegment.fileName(baseOffset: replaced, suffix: ".timeindex")))
            unlink(path(LogSegment.fileName(baseOffset: replaced, suffix: ".txnindex")))
            if replaced != base { unlink(path(name)) }
        }
        try afterStep(.replacedRemoved)
        try renameOrThrow(swap, path(LogSegment.fileName(baseOffset: base, suffix: ".log")))
        for suffix in [".index", ".timeindex"] {
            try renameOrThrow(path(SegmentCleaner.cleanedName(baseOffset: base, endOffset: group.endOffset, suffix: suffix)),
                              path(LogSegment.fileName(baseOffset: base, suffix: suffix)))
        }
        if !abortedTransactions.isEmpty {
            try renameOrThrow(cleanedTransactions, path(LogSegment.fileName(baseOffset: base, suffix: ".txnindex")))
        }
        try syncDirectoryOrThrow()
        try afterStep(.renamed)
    }

    /// Records, durably, that segments with a base below `offset` may skip offsets between
    /// batches (what the cleaner wrote, or a follower copied from a cleaned leader), so that
    /// recovery accepts them there and still insists on contiguity everywhere else.
    func allowGaps(below offset: Int64) throws {
        guard offset > (readCleanedThrough() ?? Int64.min) else { return }
        var bytes = [UInt8]()
        bytes.appendBigEndian(UInt64(bitPattern: offset))
        try writeFileAtomically(path: directory + "/" + LogLoader.cleanedThroughFile, bytes: bytes, sync: true)
        try syncDirectoryOrThrow()
    }

    private func readCleanedThrough() -> Int64? {
        guard let bytes = readWholeFile(path: directory + "/" + LogLoader.cleanedThroughFile), bytes.count == 8 else { return nil }
        return bytes.readBigEndianInt64(at: 0)
    }

    private func renameOrThrow(_ from: String, _ to: String) throws {
        guard rename(from, to) == 0 else { throw StorageError.io(errno: errno, operation: "rename", path: from) }
    }

    private func syncDirectoryOrThrow() throws {
        guard syncDirectory(directory) else { throw StorageError.io(errno: errno, operation: "fsync", path: directory) }
    }

    static func removeCleanedFiles(of group: CleanedGroup, in directory: String) {
        for suffix in [".log", ".index", ".timeindex", ".txnindex"] {
            unlink(directory + "/" + SegmentCleaner.cleanedName(baseOffset: group.baseOffset, endOffset: group.endOffset, suffix: suffix))
        }
    }
}

extension LogLoader {
    /// Finishes a swap a crash interrupted and drops cleanings that never committed: a
    /// `<base>.log.<end>.swap` replaces every segment with a base in [base, end); `.cleaned`
    /// files go. Runs before the segments are listed.
    func completeInterruptedCleaning() throws {
        guard let names = listDirectory(directory) else {
            throw StorageError.io(errno: errno, operation: "opendir", path: directory)
        }
        let bases = names.compactMap { name -> Int64? in
            guard name.hasSuffix(".log"), name.count == 24 else { return nil }
            return Int64(name.prefix(20))
        }
        for name in names where name.hasSuffix(".swap") {
            let parts = name.split(separator: ".")
            guard parts.count == 4, parts[1] == "log", let base = Int64(parts[0]), let end = Int64(parts[2]), end > base else {
                logger.warning("unrecognised swap file left alone", metadata: ["file": "\(directory)/\(name)"])
                continue
            }
            for replaced in bases where replaced >= base && replaced < end {
                // A descriptor cached by a log object of this directory still reads the old file.
                files.forget(path: directory + "/" + LogSegment.fileName(baseOffset: replaced, suffix: ".log"))
                for suffix in [".index", ".timeindex", ".txnindex", ".log"] {
                    unlink(directory + "/" + LogSegment.fileName(baseOffset: replaced, suffix: suffix))
                }
            }
            let target = directory + "/" + LogSegment.fileName(baseOffset: base, suffix: ".log")
            guard rename(directory + "/" + name, target) == 0 else {
                throw StorageError.io(errno: errno, operation: "rename", path: directory + "/" + name)
            }
            // The aborted transactions of the replaced segments, written before the commit.
            let transactions = directory + "/" + SegmentCleaner.cleanedName(baseOffset: base, endOffset: end, suffix: ".txnindex")
            if access(transactions, F_OK) == 0,
               rename(transactions, directory + "/" + LogSegment.fileName(baseOffset: base, suffix: ".txnindex")) != 0 {
                throw StorageError.io(errno: errno, operation: "rename", path: transactions)
            }
            logger.info("finished a cleaner swap interrupted by a stop", metadata: ["segment": "\(target)", "replacedBelow": "\(end)"])
        }
        for name in names where name.hasSuffix(".cleaned") {
            unlink(directory + "/" + name)
        }
        _ = syncDirectory(directory)
    }
}
