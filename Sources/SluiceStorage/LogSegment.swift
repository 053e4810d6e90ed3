import Glibc
import KafkaProtocol
import NIOCore

/// One segment of a partition log: a `.log` file of record batches exactly as they arrived
/// (base offset patched in), its sparse `.index` and `.timeindex`, and, once a transaction is
/// aborted in it, its `.txnindex`.
///
/// Files use Kafka's names — the 20-digit base offset plus `.log`, `.index`, `.timeindex` — so
/// operators' habits and tools (and `kafka-dump-log` on a copied segment) keep working.
///
/// Not thread-safe: a segment belongs to its `PartitionLog`, which one thread owns.
final class LogSegment {
    let baseOffset: Int64
    let logPath: String
    let indexPath: String
    let timeIndexPath: String
    let transactionIndexPath: String
    /// Every segment's descriptor, the active one's included, comes from this shared LRU cache,
    /// so open descriptors stay bounded however many partitions there are (100,000 partitions
    /// each pinning its active segment once ran the process out of descriptors).
    private let files: FileHandleCache

    /// Bytes of batches appended (in-flight writes included).
    private(set) var size: Int64
    /// The offset after the last batch appended.
    private(set) var nextOffset: Int64
    /// Largest batch max-timestamp seen, and the offset of the batch that had it.
    private(set) var maxTimestamp: Int64 = -1
    private(set) var offsetOfMaxTimestamp: Int64 = -1
    /// Wall-clock time of the first append, for `segment.ms`.
    private(set) var createdMs: Int64
    /// What `retention.ms` ages the segment by (Kafka's largestTimestamp): its newest record
    /// time, or, with no record time (a cleaned segment the cleaner left empty), when it was
    /// created; so an empty segment does not expire at once and move the log start.
    var retentionTimestamp: Int64 { maxTimestamp >= 0 ? maxTimestamp : createdMs }

    /// Byte ranges known to hold valid batches: appended (validated when produced), checked by
    /// recovery, or checked by `verify` before a fetch served them. Sorted, disjoint.
    private var verified: [Range<Int64>] = []
    /// Batches that failed their check when read: never served.
    private(set) var damaged: [(range: Range<Int64>, reason: String)] = []
    /// A header on the way to an offset could not be read (logged and counted once).
    var headerDamageReported = false

    private var offsetIndex: OffsetIndex?
    private var timeIndex: TimeIndex?
    private var loadedTransactionIndex: TransactionIndex?
    private var bytesSinceIndexEntry = 0
    private let indexIntervalBytes: Int

    static func fileName(baseOffset: Int64, suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    private init(directory: String, baseOffset: Int64, files: FileHandleCache, size: Int64, nextOffset: Int64,
                 createdMs: Int64, indexIntervalBytes: Int) {
        self.baseOffset = baseOffset
        self.logPath = directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: ".log")
        self.indexPath = directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: ".index")
        self.timeIndexPath = directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: ".timeindex")
        self.transactionIndexPath = directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: ".txnindex")
        self.files = files
        self.size = size
        self.nextOffset = nextOffset
        self.createdMs = createdMs
        self.indexIntervalBytes = indexIntervalBytes
    }

    /// A new, empty segment (files created now).
    static func create(directory: String, baseOffset: Int64, files: FileHandleCache, nowMs: Int64,
                       indexIntervalBytes: Int) throws -> LogSegment {
        let segment = LogSegment(directory: directory, baseOffset: baseOffset, files: files, size: 0,
                                 nextOffset: baseOffset, createdMs: nowMs, indexIntervalBytes: indexIntervalBytes)
        let file = try SegmentFile.open(path: segment.logPath, create: true)
        try file.truncate(to: 0)
        unlink(segment.transactionIndexPath)
        files.adopt(file, path: segment.logPath, replacing: true)
        segment.offsetIndex = OffsetIndex()
        segment.timeIndex = TimeIndex()
        return segment
    }

    /// A segment the cleaner wrote, swapped in under its first replaced segment's name: its
    /// indexes come from the cleaner, its bytes were checked when they were read to be cleaned.
    static func cleaned(directory: String, baseOffset: Int64, files: FileHandleCache, size: Int64, nextOffset: Int64,
                        offsetIndex: OffsetIndex, timeIndex: TimeIndex, maxTimestamp: Int64, offsetOfMaxTimestamp: Int64,
                        createdMs: Int64, indexIntervalBytes: Int) -> LogSegment {
        let segment = LogSegment(directory: directory, baseOffset: baseOffset, files: files, size: size, nextOffset: nextOffset,
                                 createdMs: createdMs, indexIntervalBytes: indexIntervalBytes)
        segment.offsetIndex = offsetIndex
        segment.timeIndex = timeIndex
        segment.maxTimestamp = maxTimestamp
        segment.offsetOfMaxTimestamp = offsetOfMaxTimestamp
        segment.markVerified(0..<size)
        return segment
    }

    /// An existing segment whose contents are trusted as far as `size` (a clean shutdown, or
    /// recovery has checked it). `nextOffset` is known from the next segment or a scan.
    static func open(directory: String, baseOffset: Int64, files: FileHandleCache, indexIntervalBytes: Int) throws -> LogSegment {
        let path = directory + "/" + fileName(baseOffset: baseOffset, suffix: ".log")
        var info = stat()
        guard stat(path, &info) == 0 else { throw StorageError.io(errno: errno, operation: "stat", path: path) }
        return LogSegment(directory: directory, baseOffset: baseOffset, files: files, size: Int64(info.st_size),
                          nextOffset: baseOffset, createdMs: Int64(info.st_mtim.tv_sec) * 1000,
                          indexIntervalBytes: indexIntervalBytes)
    }

    // MARK: Files

    func file() throws -> SegmentFile {
        try files.file(path: logPath)
    }

    // MARK: Indexes

    /// The transactions aborted by markers in this segment, read from `.txnindex` when first
    /// needed (most segments have none, and no file).
    var transactionIndex: TransactionIndex {
        if let loadedTransactionIndex { return loadedTransactionIndex }
        let index = TransactionIndex(path: transactionIndexPath)
        loadedTransactionIndex = index
        return index
    }

    /// Syncs aborted transactions written since the last sync (none loaded: nothing to do).
    func syncTransactionIndex() throws {
        try loadedTransactionIndex?.syncIfNeeded()
    }

    private func loadedOffsetIndex() throws -> OffsetIndex {
        if let offsetIndex { return offsetIndex }
        if let bytes = readWholeFile(path: indexPath), let parsed = OffsetIndex.parse(bytes, logSize: size) {
            offsetIndex = parsed
            return parsed
        }
        try rebuildIndexes()
        return offsetIndex ?? OffsetIndex()
    }

    private func loadedTimeIndex() throws -> TimeIndex {
        if let timeIndex { return timeIndex }
        let limit = UInt32(clamping: nextOffset - baseOffset)
        if let bytes = readWholeFile(path: timeIndexPath), let parsed = TimeIndex.parse(bytes, nextRelativeOffset: max(limit, 1)) {
            timeIndex = parsed
            return parsed
        }
        try rebuildIndexes()
        return timeIndex ?? TimeIndex()
    }

    /// Reads the largest timestamp from the time index's last entry without loading it all;
    /// used at start-up for retention. Falls back to a scan when the index is unusable.
    func loadSummary(nextOffset: Int64) throws {
        self.nextOffset = nextOffset
        if let bytes = readWholeFile(path: timeIndexPath), bytes.count >= TimeIndex.entrySize,
           bytes.count % TimeIndex.entrySize == 0 {
            let last = bytes.count - TimeIndex.entrySize
            maxTimestamp = bytes.readBigEndianInt64(at: last)
            offsetOfMaxTimestamp = baseOffset + Int64(bytes.readBigEndianUInt32(at: last + 8))
        } else if size > 0 {
            try rebuildIndexes()
        }
    }

    /// Rebuilds both indexes (and nextOffset, max timestamp) by walking the batch headers.
    /// The caller has already established that the bytes up to `size` are valid batches.
    func rebuildIndexes() throws {
        var offsets = OffsetIndex()
        var times = TimeIndex()
        var position: Int64 = 0
        var sinceEntry = 0
        var next = baseOffset
        maxTimestamp = -1
        offsetOfMaxTimestamp = -1
        var reader = ChunkedFileReader(file: try file())
        while position + Int64(RecordBatchHeader.size) <= size {
            let batchPosition = position
            let header = try RecordBatchHeader(peekingAt: try reader.bytes(at: position, count: RecordBatchHeader.size))
            guard position + Int64(header.totalSize) <= size else { break }
            if sinceEntry >= indexIntervalBytes || offsets.count == 0 && batchPosition == 0 {
                offsets.append(relativeOffset: UInt32(header.baseOffset - baseOffset), position: UInt32(batchPosition))
                if header.maxTimestamp > maxTimestamp {
                    times.append(timestamp: header.maxTimestamp, relativeOffset: UInt32(header.baseOffset - baseOffset))
                }
                sinceEntry = 0
            }
            sinceEntry += header.totalSize
            if header.maxTimestamp > maxTimestamp {
                maxTimestamp = header.maxTimestamp
                offsetOfMaxTimestamp = header.baseOffset
            }
            next = header.lastOffset + 1
            position = batchPosition + Int64(header.totalSize)
        }
        if let last = times.lastTimestamp, maxTimestamp > last {
            times.append(timestamp: maxTimestamp, relativeOffset: UInt32(offsetOfMaxTimestamp - baseOffset))
        }
        offsetIndex = offsets
        timeIndex = times
        bytesSinceIndexEntry = sinceEntry
        nextOffset = next
        precondition(position == size, "rebuildIndexes over bytes that do not end on a batch boundary")
    }

    /// Writes the index files (on roll, and at clean shutdown).
    func writeIndexes(sync: Bool) throws {
        let offsets = try loadedOffsetIndex()
        let times = try loadedTimeIndex()
        var timeEntries = times
        if maxTimestamp >= 0, (times.lastTimestamp ?? -1) < maxTimestamp {
            // The last entry records the segment's max, so a restart reads it in one pread.
            timeEntries.append(timestamp: maxTimestamp, relativeOffset: UInt32(offsetOfMaxTimestamp - baseOffset))
        }
        try writeFileAtomically(path: indexPath, bytes: offsets.serialized(), sync: sync)
        try writeFileAtomically(path: timeIndexPath, bytes: timeEntries.serialized(), sync: sync)
    }

    // MARK: Appending

    /// Records that a batch of `length` bytes was placed at `position` (the caller writes it).
    func recordAppend(header: RecordBatchHeader, position: Int64, nowMs: Int64) {
        precondition(position == size, "appends must be contiguous")
        precondition(header.baseOffset >= nextOffset, "offsets must grow")
        if size == 0 { createdMs = nowMs }
        let relative = UInt32(header.baseOffset - baseOffset)
        if offsetIndex == nil { offsetIndex = try? loadedOffsetIndex() }
        if timeIndex == nil { timeIndex = try? loadedTimeIndex() }
        if bytesSinceIndexEntry >= indexIntervalBytes || position == 0 {
            offsetIndex?.append(relativeOffset: relative, position: UInt32(position))
            if header.maxTimestamp > (timeIndex?.lastTimestamp ?? -1) && header.maxTimestamp > maxTimestamp {
                timeIndex?.append(timestamp: header.maxTimestamp, relativeOffset: relative)
            }
            bytesSinceIndexEntry = 0
        }
        bytesSinceIndexEntry += header.totalSize
        if header.maxTimestamp > maxTimestamp {
            maxTimestamp = header.maxTimestamp
            offsetOfMaxTimestamp = header.baseOffset
        }
        // Appended batches were checked (CRC included) before they got here.
        markVerified(position..<(position + Int64(header.totalSize)))
        size += Int64(header.totalSize)
        nextOffset = header.lastOffset + 1
    }

    // MARK: Reading

    /// Calls `body` with each batch header from `start` until `end` (or `body` returns false).
    /// Headers are read with one pread each; a batch that runs past `end` stops the scan.
    /// Returns where the scan stopped: `end` when it walked whole batches all the way.
    @discardableResult
    func scanHeaders(from start: Int64, to end: Int64, _ body: (RecordBatchHeader, Int64) throws -> Bool) throws -> Int64 {
        let file = try file()
        var position = start
        while position + Int64(RecordBatchHeader.size) <= end {
            let bytes = try file.read(at: position, count: RecordBatchHeader.size)
            guard bytes.count == RecordBatchHeader.size else { return position }
            let header = try RecordBatchHeader(peekingAt: ByteBuffer(bytes: bytes))
            guard position + Int64(header.totalSize) <= end else { return position }
            guard try body(header, position) else { return position }
            position += Int64(header.totalSize)
        }
        return position
    }

    /// The batch containing `offset` (or the first after it): its position and header; nil when
    /// the batches up to `end` all end before it. A cleaned segment has gaps, a removed tail
    /// included, so an offset below the next segment may be in none of its batches; a walk that
    /// cannot reach `end` on whole batches is damage (`RecordBatchError.truncated`).
    func locate(offset: Int64, before end: Int64) throws -> (position: Int64, header: RecordBatchHeader)? {
        let index = try loadedOffsetIndex()
        let relative = UInt32(clamping: max(0, offset - baseOffset))
        let start = index.lookup(relativeOffset: relative).map { Int64($0.position) } ?? 0
        var found: (Int64, RecordBatchHeader)?
        let stopped = try scanHeaders(from: start, to: end) { header, position in
            if header.lastOffset >= offset {
                found = (position, header)
                return false
            }
            return true
        }
        if found == nil && stopped != end {
            throw RecordBatchError.truncated(needed: RecordBatchHeader.size, available: Int(end - stopped))
        }
        return found
    }

    /// Calls `body` with each batch whose max timestamp is ≥ `timestamp`, in offset order,
    /// starting where the time index says older batches end, until `body` returns false.
    func forEachBatch(atOrAfter timestamp: Int64, before end: Int64,
                      _ body: (Int64, RecordBatchHeader) throws -> Bool) throws {
        let times = try loadedTimeIndex()
        var start: Int64 = 0
        if let relative = times.lookup(timestamp: timestamp) {
            let offsets = try loadedOffsetIndex()
            start = offsets.lookup(relativeOffset: relative).map { Int64($0.position) } ?? 0
        }
        try scanHeaders(from: start, to: end) { header, position in
            guard header.maxTimestamp >= timestamp else { return true }
            return try body(position, header)
        }
    }

    // MARK: Verification

    func markVerified(_ range: Range<Int64>) {
        guard !range.isEmpty else { return }
        if let last = verified.last, last.upperBound == range.lowerBound {
            // The append path: extend in place, no allocation.
            verified[verified.count - 1] = last.lowerBound..<range.upperBound
            return
        }
        var merged = range
        var kept: [Range<Int64>] = []
        for existing in verified {
            if existing.upperBound < merged.lowerBound || existing.lowerBound > merged.upperBound {
                kept.append(existing)
            } else {
                merged = min(existing.lowerBound, merged.lowerBound)..<max(existing.upperBound, merged.upperBound)
            }
        }
        kept.append(merged)
        verified = kept.sorted { $0.lowerBound < $1.lowerBound }
    }

    /// Checks every batch from `start` (a batch boundary) through `end` that no earlier check
    /// covered — magic, length, CRC-32C — reading it once from the file (the page cache, usually).
    /// Returns the damaged batches found now; they are remembered and never served. A batch
    /// whose header cannot be read damages the rest of the segment: nothing after it can be
    /// found without trusting a length that may be wrong.
    func verify(from start: Int64, through end: Int64) throws -> [(range: Range<Int64>, reason: String)] {
        var cursor = start
        var found: [(range: Range<Int64>, reason: String)] = []
        var reader: ChunkedFileReader?
        while cursor < min(end, size) {
            if let range = verified.first(where: { $0.contains(cursor) }) {
                cursor = range.upperBound
                continue
            }
            if let damage = damaged.first(where: { $0.range.contains(cursor) }) {
                cursor = damage.range.upperBound
                continue
            }
            if reader == nil { reader = ChunkedFileReader(file: try file()) }
            let position = cursor
            func damage(to upper: Int64, _ reason: String) {
                let entry = (range: position..<upper, reason: reason)
                damaged.append(entry)
                found.append(entry)
                cursor = upper
            }
            guard size - position >= Int64(RecordBatchHeader.size) else {
                damage(to: size, "a batch header cut short at the end of the segment")
                continue
            }
            let header: RecordBatchHeader
            do {
                header = try RecordBatchHeader(peekingAt: try reader!.bytes(at: position, count: RecordBatchHeader.size))
            } catch {
                damage(to: size, "unreadable batch header: \(error)")
                continue
            }
            let total = Int64(header.totalSize)
            guard position + total <= size else {
                damage(to: size, "a batch of \(total) bytes runs past the end of the segment")
                continue
            }
            let batch = RecordBatch(header: header, bytes: try reader!.bytes(at: position, count: Int(total)))
            if batch.computedCRC != header.crc {
                damage(to: position + total, "CRC mismatch in the batch of offsets \(header.baseOffset)-\(header.lastOffset)")
                continue
            }
            markVerified(position..<(position + total))
            cursor = position + total
        }
        return found
    }

    /// The first damaged batch that overlaps `range`, if any.
    func firstDamage(overlapping range: Range<Int64>) -> (range: Range<Int64>, reason: String)? {
        damaged.filter { $0.range.overlaps(range) }.min { $0.range.lowerBound < $1.range.lowerBound }
    }

    // MARK: Truncation and deletion

    /// Removes the batch containing `offset` and everything after it; returns the new next offset.
    func truncate(toOffset offset: Int64) throws {
        guard let (position, _) = try locate(offset: offset, before: size) else { return }
        try rollBack(toPosition: position)
    }

    /// Truncates the file to `position` (a batch boundary) and recomputes the next offset, the
    /// max timestamp and both indexes from what is left.
    func rollBack(toPosition position: Int64) throws {
        try file().truncate(to: position)
        size = position
        verified = verified.compactMap { $0.lowerBound < position ? $0.lowerBound..<min($0.upperBound, position) : nil }
        damaged = damaged.filter { $0.range.lowerBound < position }
        try rebuildIndexes()
        try transactionIndex.truncate(from: nextOffset)
    }

    /// Drops this segment's descriptor from the shared cache (its path is about to be reused).
    func forgetCachedFile() {
        files.forget(path: logPath)
    }

    func deleteFiles() {
        files.forget(path: logPath)
        unlink(logPath)
        unlink(indexPath)
        unlink(timeIndexPath)
        unlink(transactionIndexPath)
    }
}
