import Glibc
import KafkaProtocol
import NIOCore

/// What cleaning one log needs, taken on the log's owner (`PartitionLog.cleaningPlan`): its
/// closed, cleanable segments (files stay open while the plan lives, so retention may unlink
/// them meanwhile) and the rules in force. Everything else happens off the owner.
public struct CleaningPlan: Sendable {
    struct Segment: Sendable {
        let baseOffset: Int64
        /// Bytes of whole batches: the segment is closed, so this never grows.
        let size: Int64
        /// The next segment's base: every offset of this one is below it.
        let nextBase: Int64
        let file: SegmentFile
    }

    let directory: String
    /// From the log's first segment to the first uncleanable offset, oldest first.
    let segments: [Segment]
    /// Offsets from here on have not been cleaned yet (the cleaner checkpoint).
    let firstDirtyOffset: Int64
    /// Producer id → last offset of its last batch: those batches survive, if only as a header,
    /// so a restarted broker still knows the producer's last sequence.
    let producerLastOffsets: [Int64: Int64]
    /// Cleaned groups stay below this size (`segment.bytes`).
    let segmentBytes: Int64
    let indexIntervalBytes: Int
    /// `delete.retention.ms`: how long a tombstone stays once a cleaning has seen it.
    let deleteRetentionMs: Int64
    let nowMs: Int64
    /// The aborted transactions whose data may lie in the plan: their batches are removed, and
    /// their records never stand for a key's latest value (Kafka's CleanedTransactionMetadata).
    var abortedTransactions: [AbortedTransaction] = []
    /// The log's segment generation when planned: a swap after anything else changed them
    /// (retention, truncation, another swap) is abandoned.
    let generation: UInt64

    /// The dirty bytes over all bytes of the plan (Kafka's cleanable ratio).
    public var dirtyRatio: Double {
        let total = segments.reduce(Int64(0)) { $0 + $1.size }
        guard total > 0 else { return 0 }
        return Double(dirtyBytes) / Double(total)
    }

    public var dirtyBytes: Int64 {
        segments.filter { $0.nextBase > firstDirtyOffset }.reduce(Int64(0)) { $0 + $1.size }
    }

    public var isEmpty: Bool { segments.isEmpty || dirtyBytes == 0 }
}

extension CleaningPlan {
    /// Whether a batch belongs to an aborted transaction: transactional, of the aborted
    /// producer, between its first offset and its ABORT marker.
    func isAborted(_ header: RecordBatchHeader) -> Bool {
        guard header.attributes.isTransactional, !header.attributes.isControl else { return false }
        return abortedTransactions.contains {
            $0.producerId == header.producerId && $0.firstOffset <= header.baseOffset && header.lastOffset < $0.lastOffset
        }
    }
}

/// A cleaned group of segments, written to `<base>.log.<end>.cleaned` and not yet swapped in.
struct CleanedGroup: Sendable {
    let baseOffset: Int64
    /// Every offset the group replaced is below this: the next group's or segment's base.
    let endOffset: Int64
    /// Base offsets of the segments it replaces (the first is `baseOffset`).
    let replaces: [Int64]
    let replacedSizes: [Int64]
    let size: Int64
    let nextOffset: Int64
    let offsetIndex: OffsetIndex
    let timeIndex: TimeIndex
    let maxTimestamp: Int64
    let offsetOfMaxTimestamp: Int64
    /// Offsets of the ABORT markers the group dropped: their aborted-transaction index entries
    /// go with them.
    let droppedAbortMarkers: Set<Int64>
}

/// What one cleaning pass did, for the log's swap and for /metrics.
public struct CleaningOutcome: Sendable {
    var groups: [CleanedGroup]
    /// Offsets below it are clean now: the next cleaner checkpoint.
    public let cleanedThrough: Int64
    /// Bytes read from disk: the dirty segments twice (offset map, then rewrite), the rest once.
    public var bytesRead: Int64 = 0
    /// Bytes of log the pass rewrote (the segments it replaced).
    public var bytesCleaned: Int64 = 0
    public var bytesWritten: Int64 = 0
    /// The earliest delete horizon of the tombstones kept: from then on a cleaning removes
    /// some even if nothing new was written (KIP-534).
    public var earliestDeleteHorizonMs: Int64?
    public var recordsRead: Int64 = 0
    public var recordsRemoved: Int64 = 0
    /// Records without a key found in a compacted log (removed, as Kafka's cleaner does).
    public var recordsWithoutKey: Int64 = 0
    let generation: UInt64
    let directory: String
}

/// Kafka's log cleaner for one log, off its owner: an offset map of the latest offset per key
/// over the dirty segments, then every cleanable segment rewritten in groups up to
/// `segment.bytes`, keeping of each key its latest record, tombstones until their delete
/// horizon, and each producer's last batch. Surviving batches keep their offsets (a cleaned
/// segment has gaps) and are copied as they are when nothing in them goes; a batch that loses
/// records is rebuilt with the same codec (`RecordBatch.retaining`). An aborted transaction's
/// batches are removed; a transaction marker is kept while any batch of its transaction is left,
/// then stamped with a delete horizon and removed by the first cleaning after it (KIP-534), so
/// a read_committed consumer that was reading its transaction has `delete.retention.ms` to pass it.
public enum SegmentCleaner {
    static func cleanedName(baseOffset: Int64, endOffset: Int64, suffix: String) -> String {
        LogSegment.fileName(baseOffset: baseOffset, suffix: suffix) + ".\(endOffset).cleaned"
    }

    static func swapName(baseOffset: Int64, endOffset: Int64) -> String {
        LogSegment.fileName(baseOffset: baseOffset, suffix: ".log") + ".\(endOffset).swap"
    }

    /// Cleans what `plan` covers, as far as an offset map of `mapBytes` holds the dirty keys.
    /// `throttle` is called after each segment with the bytes read or written so far (I/O rate
    /// limit); what it throws (a stop) ends the pass. Throws
    /// `StorageError` on I/O failure; the files written so far are then removed.
    public static func clean(_ plan: CleaningPlan, mapBytes: Int, loadFactor: Double = 0.9, decompressionLimit: Int = 256 << 20,
                             throttle: (Int64) throws -> Void = { _ in }) throws -> CleaningOutcome? {
        guard !plan.segments.isEmpty else { return nil }
        var map = OffsetMap(memoryBytes: mapBytes, loadFactor: loadFactor)
        // Which segments the map covers: whole dirty segments while their records fit.
        var covered = 0
        var bytesRead: Int64 = 0
        for (index, segment) in plan.segments.enumerated() {
            guard segment.nextBase > plan.firstDirtyOffset else {
                covered = index + 1
                continue
            }
            var records: Int64 = 0
            try forEachHeader(segment) { header, _ in records += Int64(max(0, header.recordCount)) }
            if map.count + Int(records) > map.capacity && index > 0 && plan.segments[index - 1].nextBase > plan.firstDirtyOffset {
                break  // this one may not fit: clean what the map already covers
            }
            try forEachBatch(segment, decompressionLimit: decompressionLimit) { header, batch in
                guard !header.attributes.isControl, !plan.isAborted(header) else { return }
                try batch.forEachRecord(decompressionLimit: decompressionLimit) { record in
                    let offset = header.baseOffset + Int64(record.offsetDelta)
                    guard offset >= plan.firstDirtyOffset, let key = record.key else { return }
                    let digest = key.withUnsafeReadableBytes { KeyDigest($0) }
                    if !map.put(digest, offset: offset) {
                        throw StorageError.invalidBatch("the cleaner's offset map (log.cleaner.dedupe.buffer.size) holds fewer keys than one segment has")
                    }
                }
            }
            bytesRead += segment.size
            try throttle(bytesRead)
            covered = index + 1
        }
        // With nothing dirty this pass only removes tombstones whose horizon passed.
        let cleanable = Array(plan.segments.prefix(covered))
        guard let last = cleanable.last else { return nil }
        var outcome = CleaningOutcome(groups: [], cleanedThrough: max(last.nextBase, plan.firstDirtyOffset), generation: plan.generation,
                                      directory: plan.directory)
        outcome.bytesRead = bytesRead
        var written: [String] = []
        var transactions = CleanedTransactions(aborted: plan.abortedTransactions)
        do {
            for group in groups(of: cleanable, segmentBytes: plan.segmentBytes) {
                let cleaned = try cleanGroup(group, plan: plan, map: map, decompressionLimit: decompressionLimit,
                                             outcome: &outcome, transactions: &transactions, written: &written, throttle: throttle)
                outcome.groups.append(cleaned)
            }
        } catch {
            for path in written { unlink(path) }
            throw error
        }
        return outcome
    }

    /// Consecutive segments whose sizes add up to at most `segmentBytes` (one at least), with
    /// offsets that fit a segment's 32-bit relative offsets.
    static func groups(of segments: [CleaningPlan.Segment], segmentBytes: Int64) -> [[CleaningPlan.Segment]] {
        var groups: [[CleaningPlan.Segment]] = []
        var current: [CleaningPlan.Segment] = []
        var size: Int64 = 0
        for segment in segments {
            if let first = current.first,
               size + segment.size > segmentBytes || segment.nextBase - first.baseOffset > Int64(Int32.max) {
                groups.append(current)
                current = []
                size = 0
            }
            current.append(segment)
            size += segment.size
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    private static func cleanGroup(_ group: [CleaningPlan.Segment], plan: CleaningPlan, map: OffsetMap, decompressionLimit: Int,
                                   outcome: inout CleaningOutcome, transactions: inout CleanedTransactions, written: inout [String],
                                   throttle: (Int64) throws -> Void) throws -> CleanedGroup {
        var droppedAbortMarkers = Set<Int64>()
        let base = group[0].baseOffset
        let end = group[group.count - 1].nextBase
        let path = plan.directory + "/" + cleanedName(baseOffset: base, endOffset: end, suffix: ".log")
        let file = try SegmentFile.open(path: path, create: true)
        written.append(path)
        try file.truncate(to: 0)
        var output = OutputWriter(file: file, path: path, baseOffset: base, indexIntervalBytes: plan.indexIntervalBytes)
        for segment in group {
            try forEachBatch(segment, decompressionLimit: decompressionLimit) { header, batch in
                outcome.recordsRead += Int64(max(0, header.recordCount))
                if header.attributes.isControl {
                    let marker = try EndTransactionMarker(controlBatch: batch)
                    guard transactions.markerIsEmpty(header, kind: marker?.kind) else {
                        return try output.append(batch.bytes, header: header)
                    }
                    if let horizon = header.deleteHorizonMs {
                        if plan.nowMs >= horizon {
                            outcome.recordsRemoved += Int64(max(0, header.recordCount))
                            if marker?.kind == .abort { droppedAbortMarkers.insert(header.lastOffset) }
                            return
                        }
                        outcome.earliestDeleteHorizonMs = min(outcome.earliestDeleteHorizonMs ?? horizon, horizon)
                        return try output.append(batch.bytes, header: header)
                    }
                    // Its transaction is gone: the marker goes after delete.retention.ms.
                    let horizon = plan.nowMs &+ plan.deleteRetentionMs
                    outcome.earliestDeleteHorizonMs = min(outcome.earliestDeleteHorizonMs ?? horizon, horizon)
                    let stamped = try batch.retaining(try batch.records(decompressionLimit: decompressionLimit), deleteHorizonMs: horizon)
                    return try output.append(stamped, header: try RecordBatchHeader(peekingAt: stamped))
                }
                transactions.sawDataBatch(header)
                if plan.isAborted(header) {
                    // An aborted transaction's records go whole; the producer's last batch stays
                    // as a header, so its sequence and epoch survive a restart.
                    outcome.recordsRemoved += Int64(max(0, header.recordCount))
                    guard header.producerId >= 0 && plan.producerLastOffsets[header.producerId] == header.lastOffset else { return }
                    let emptied = try batch.retaining([], deleteHorizonMs: nil)
                    try output.append(emptied, header: try RecordBatchHeader(peekingAt: emptied))
                    return
                }
                var kept: [Record] = []
                var removed = 0
                var needsHorizon = false
                var keptTombstone = false
                try batch.forEachRecord(decompressionLimit: decompressionLimit) { record in
                    let offset = header.baseOffset + Int64(record.offsetDelta)
                    guard let key = record.key else {
                        outcome.recordsWithoutKey += 1
                        removed += 1
                        return
                    }
                    let digest = key.withUnsafeReadableBytes { KeyDigest($0) }
                    if let latest = map.offset(for: digest), offset < latest {
                        removed += 1
                        return
                    }
                    if record.value == nil {
                        // A tombstone: kept until its batch's delete horizon passes (KIP-534).
                        if let horizon = header.deleteHorizonMs {
                            if plan.nowMs >= horizon {
                                removed += 1
                                return
                            }
                        } else {
                            needsHorizon = true
                        }
                        keptTombstone = true
                    }
                    kept.append(record)
                }
                outcome.recordsRemoved += Int64(removed)
                if keptTombstone, let horizon = header.deleteHorizonMs ?? (needsHorizon ? plan.nowMs &+ plan.deleteRetentionMs : nil) {
                    outcome.earliestDeleteHorizonMs = min(outcome.earliestDeleteHorizonMs ?? horizon, horizon)
                }
                if removed == 0 && !needsHorizon {
                    try output.append(batch.bytes, header: header)
                    return
                }
                let lastOfProducer = header.producerId >= 0 && plan.producerLastOffsets[header.producerId] == header.lastOffset
                if kept.isEmpty && !lastOfProducer { return }
                let rebuilt = try batch.retaining(kept, deleteHorizonMs: needsHorizon ? plan.nowMs &+ plan.deleteRetentionMs : nil)
                try output.append(rebuilt, header: try RecordBatchHeader(peekingAt: rebuilt))
            }
            outcome.bytesRead += segment.size
            try throttle(outcome.bytesRead + outcome.bytesWritten)
        }
        try output.flush()
        try file.sync()
        outcome.bytesCleaned += group.reduce(Int64(0)) { $0 + $1.size }
        outcome.bytesWritten += output.position
        let indexes = output.indexes()
        for (suffix, bytes) in [(".index", indexes.offsets.serialized()), (".timeindex", indexes.times.serialized())] {
            let indexPath = plan.directory + "/" + cleanedName(baseOffset: base, endOffset: end, suffix: suffix)
            written.append(indexPath)
            try writeFileAtomically(path: indexPath, bytes: bytes, sync: true)
        }
        return CleanedGroup(baseOffset: base, endOffset: end, replaces: group.map(\.baseOffset), replacedSizes: group.map(\.size),
                            size: output.position, nextOffset: output.nextOffset ?? base, offsetIndex: indexes.offsets,
                            timeIndex: indexes.times, maxTimestamp: output.maxTimestamp, offsetOfMaxTimestamp: output.offsetOfMaxTimestamp,
                            droppedAbortMarkers: droppedAbortMarkers)
    }

    private static func forEachHeader(_ segment: CleaningPlan.Segment, _ body: (RecordBatchHeader, Int64) throws -> Void) throws {
        var reader = ChunkedFileReader(file: segment.file)
        var position: Int64 = 0
        while position + Int64(RecordBatchHeader.size) <= segment.size {
            let header = try RecordBatchHeader(peekingAt: try reader.bytes(at: position, count: RecordBatchHeader.size))
            guard position + Int64(header.totalSize) <= segment.size else {
                throw StorageError.corrupt(path: segment.file.path, reason: "a batch runs past the end of a closed segment at byte \(position)")
            }
            try body(header, position)
            position += Int64(header.totalSize)
        }
    }

    /// Each batch of a closed segment, CRC checked: the cleaner never copies damage forward.
    private static func forEachBatch(_ segment: CleaningPlan.Segment, decompressionLimit: Int,
                                     _ body: (RecordBatchHeader, RecordBatch) throws -> Void) throws {
        var reader = ChunkedFileReader(file: segment.file)
        try forEachHeader(segment) { header, position in
            let batch = RecordBatch(header: header, bytes: try reader.bytes(at: position, count: header.totalSize))
            guard batch.computedCRC == header.crc else {
                throw StorageError.corrupt(path: segment.file.path, reason: "CRC mismatch in the batch at offset \(header.baseOffset)")
            }
            try body(header, batch)
        }
    }

    /// The cleaned file as it is written: 1 MiB writes, indexes built as `rebuildIndexes` would.
    private struct OutputWriter {
        let file: SegmentFile
        let path: String
        let baseOffset: Int64
        let indexIntervalBytes: Int
        var pending = ByteBuffer()
        private(set) var position: Int64 = 0
        private var flushed: Int64 = 0
        private var offsets = OffsetIndex()
        private var times = TimeIndex()
        private var sinceEntry = 0
        private(set) var maxTimestamp: Int64 = -1
        private(set) var offsetOfMaxTimestamp: Int64 = -1
        private(set) var nextOffset: Int64?

        init(file: SegmentFile, path: String, baseOffset: Int64, indexIntervalBytes: Int) {
            self.file = file
            self.path = path
            self.baseOffset = baseOffset
            self.indexIntervalBytes = indexIntervalBytes
        }

        mutating func append(_ bytes: ByteBuffer, header: RecordBatchHeader) throws {
            let relative = UInt32(header.baseOffset - baseOffset)
            if sinceEntry >= indexIntervalBytes || position == 0 {
                offsets.append(relativeOffset: relative, position: UInt32(position))
                if header.maxTimestamp > maxTimestamp {
                    times.append(timestamp: header.maxTimestamp, relativeOffset: relative)
                }
                sinceEntry = 0
            }
            sinceEntry += header.totalSize
            if header.maxTimestamp > maxTimestamp {
                maxTimestamp = header.maxTimestamp
                offsetOfMaxTimestamp = header.baseOffset
            }
            nextOffset = header.lastOffset + 1
            pending.writeImmutableBuffer(bytes)
            position += Int64(header.totalSize)
            if pending.readableBytes >= 1 << 20 { try flush() }
        }

        mutating func flush() throws {
            guard pending.readableBytes > 0 else { return }
            let count = pending.readableBytes
            let wrote = pending.withUnsafeReadableBytes { raw in pwrite(file.descriptor, raw.baseAddress, count, off_t(flushed)) }
            guard wrote == count else {
                let code = wrote < 0 ? errno : EIO
                throw code == ENOSPC || code == EDQUOT ? StorageError.diskFull(path: path)
                    : StorageError.io(errno: code, operation: "pwrite", path: path)
            }
            flushed += Int64(count)
            pending.clear()
        }

        func indexes() -> (offsets: OffsetIndex, times: TimeIndex) {
            var finalTimes = times
            if let last = finalTimes.lastTimestamp, maxTimestamp > last {
                finalTimes.append(timestamp: maxTimestamp, relativeOffset: UInt32(offsetOfMaxTimestamp - baseOffset))
            }
            return (offsets, finalTimes)
        }
    }
}
