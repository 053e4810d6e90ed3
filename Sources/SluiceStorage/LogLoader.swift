import Glibc
import KafkaProtocol
import Logging
import NIOCore

/// Opens a partition directory: finds the segments, and after an unclean shutdown checks every
/// batch written since the recovery point (CRC, sizes, offsets), truncates a torn or corrupt
/// tail at the last good batch, and rebuilds indexes. Corruption anywhere but the tail of the
/// last segment takes the partition offline instead of serving wrong data.
struct LogLoader {
    static let logStartOffsetFile = "log-start-offset"
    static let recoveryPointFile = "recovery-point"
    /// Every offset the cleaner may have rewritten is below it (written before a swap commits):
    /// only segments below it may have gaps between batches.
    static let cleanedThroughFile = "cleaned-through"

    let directory: String
    let config: LogConfig
    let files: FileHandleCache
    let logger: Logger
    /// The partition's current leader epoch; no stored batch can carry a larger one.
    let maximumLeaderEpoch: Int32
    let health: StorageHealth

    struct Loaded {
        var segments: [LogSegment]
        var logStartOffset: Int64
    }

    init(directory: String, config: LogConfig, files: FileHandleCache, maximumLeaderEpoch: Int32, logger: Logger,
         health: StorageHealth = StorageHealth()) {
        self.health = health
        self.directory = directory
        self.config = config
        self.files = files
        self.maximumLeaderEpoch = maximumLeaderEpoch
        self.logger = logger
    }

    func load(cleanShutdown: Bool, nowMs: Int64) throws -> Loaded {
        try completeInterruptedCleaning()
        let bases = try segmentBaseOffsets()
        let logStartOffset = readOffsetFile(Self.logStartOffsetFile) ?? bases.first ?? 0
        if bases.isEmpty {
            let segment = try LogSegment.create(directory: directory, baseOffset: logStartOffset, files: files,
                                                nowMs: nowMs, indexIntervalBytes: config.indexIntervalBytes)
            return Loaded(segments: [segment], logStartOffset: logStartOffset)
        }
        var segments = try bases.map {
            try LogSegment.open(directory: directory, baseOffset: $0, files: files, indexIntervalBytes: config.indexIntervalBytes)
        }
        let recoveryPoint = cleanShutdown ? Int64.max : (readOffsetFile(Self.recoveryPointFile) ?? bases[0])
        let cleanedThrough = readOffsetFile(Self.cleanedThroughFile) ?? Int64.min
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            let nextBase = isLast ? nil : segments[index + 1].baseOffset
            if !cleanShutdown && (segment.baseOffset >= recoveryPoint || (nextBase ?? Int64.max) > recoveryPoint) {
                try recover(segment, isLast: isLast, nextBase: nextBase, gapsAllowed: segment.baseOffset < cleanedThrough)
            } else if isLast {
                try segment.rebuildIndexes()
            } else {
                try segment.loadSummary(nextOffset: nextBase!)
            }
        }
        // An empty trailing segment left by a crash right after a roll is harmless; keep it.
        if segments.isEmpty {
            segments = [try LogSegment.create(directory: directory, baseOffset: logStartOffset, files: files,
                                              nowMs: nowMs, indexIntervalBytes: config.indexIntervalBytes)]
        }
        return Loaded(segments: segments, logStartOffset: max(logStartOffset, segments[0].baseOffset))
    }

    /// Checks every batch of `segment`; truncates a bad tail of the last segment, refuses one
    /// anywhere else.
    private func recover(_ segment: LogSegment, isLast: Bool, nextBase: Int64?, gapsAllowed: Bool) throws {
        let file = try segment.file()
        let fileSize = try file.size()
        let outcome = try validate(file: file, fileSize: fileSize, baseOffset: segment.baseOffset, nextBase: nextBase,
                                   gapsAllowed: gapsAllowed)
        if outcome.validBytes < fileSize {
            let cut = fileSize - outcome.validBytes
            guard isLast else {
                logger.error("corrupt segment in the middle of the log; partition offline",
                             metadata: ["segment": "\(segment.logPath)", "position": "\(outcome.validBytes)",
                                        "reason": "\(outcome.reason ?? "")"])
                throw StorageError.corrupt(path: segment.logPath,
                                           reason: "\(outcome.reason ?? "invalid data") at byte \(outcome.validBytes)")
            }
            // Say exactly what goes: the offsets of the batches whose headers can still be read.
            let lost = cutBatches(file: file, from: outcome.validBytes, fileSize: fileSize)
            health.recordTruncation(bytes: cut, records: lost.records)
            logger.error("recovery truncated the log tail: the first invalid batch and everything after it are cut",
                         metadata: ["segment": "\(segment.logPath)", "position": "\(outcome.validBytes)",
                                    "bytesCut": "\(cut)", "reason": "\(outcome.reason ?? "")",
                                    "offsetsCut": "\(lost.offsets.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "unreadable")",
                                    "batchesCut": "\(lost.batches)", "recordsCut": "\(lost.records)"])
            try file.truncate(to: outcome.validBytes)
            try file.sync()
        }
        try segment.rollBack(toPosition: outcome.validBytes)
        segment.markVerified(0..<outcome.validBytes)
    }

    /// The batches from `start` on, as far as their headers still read (a damaged one may have
    /// a wrong length, so this is what the file says, not a promise).
    private func cutBatches(file: SegmentFile, from start: Int64, fileSize: Int64) -> (offsets: ClosedRange<Int64>?, batches: Int, records: Int64) {
        var reader = ChunkedFileReader(file: file)
        var position = start
        var first: Int64?
        var last: Int64?
        var batches = 0
        var records: Int64 = 0
        while fileSize - position >= Int64(RecordBatchHeader.size),
              let bytes = try? reader.bytes(at: position, count: RecordBatchHeader.size),
              let header = try? RecordBatchHeader(peekingAt: bytes), header.totalSize > 0 {
            first = first ?? header.baseOffset
            last = header.lastOffset
            batches += 1
            records += Int64(max(0, header.recordCount))
            position += Int64(header.totalSize)
        }
        let offsets = first.flatMap { first in last.map { first...max(first, $0) } }
        return (offsets, batches, records)
    }

    struct Validation {
        var validBytes: Int64
        var reason: String?
    }

    /// Walks the file batch by batch, reading it in large chunks, and stops at the first batch
    /// that is torn, fails its CRC, has an impossible size, or goes backwards in offsets (or
    /// skips some, where the cleaner has not been: `gapsAllowed`).
    func validate(file: SegmentFile, fileSize: Int64, baseOffset: Int64, nextBase: Int64?, gapsAllowed: Bool = false) throws -> Validation {
        var reader = ChunkedFileReader(file: file)
        func bytes(at position: Int64, count: Int) throws -> ByteBuffer {
            try reader.bytes(at: position, count: count)
        }

        var position: Int64 = 0
        var expectedOffset = baseOffset
        while position < fileSize {
            guard fileSize - position >= Int64(RecordBatchHeader.size) else {
                return Validation(validBytes: position, reason: "torn batch header (\(fileSize - position) bytes)")
            }
            let header: RecordBatchHeader
            do {
                header = try RecordBatchHeader(peekingAt: try bytes(at: position, count: RecordBatchHeader.size))
            } catch let error as RecordBatchError {
                return Validation(validBytes: position, reason: "bad batch header: \(error)")
            }
            let total = Int64(header.totalSize)
            guard position + total <= fileSize else {
                return Validation(validBytes: position, reason: "torn batch: needs \(total) bytes, \(fileSize - position) left")
            }
            // Offsets are contiguous (only grow, in what the cleaner rewrote) and stay below the
            // next segment's base: the base offset is outside the CRC, so this is its check.
            let offsetFits = gapsAllowed ? header.baseOffset >= expectedOffset : header.baseOffset == expectedOffset
            guard offsetFits, header.lastOffsetDelta >= 0, header.recordCount >= 0, nextBase.map({ header.lastOffset < $0 }) ?? true else {
                return Validation(validBytes: position, reason: "offset \(header.baseOffset) where \(expectedOffset) was expected")
            }
            // So is the partition leader epoch: it never exceeds the partition's current epoch.
            guard header.partitionLeaderEpoch <= maximumLeaderEpoch, header.partitionLeaderEpoch >= -1 else {
                return Validation(validBytes: position, reason: "leader epoch \(header.partitionLeaderEpoch) above \(maximumLeaderEpoch)")
            }
            let batch = RecordBatch(header: header, bytes: try bytes(at: position, count: Int(total)))
            guard batch.computedCRC == header.crc else {
                return Validation(validBytes: position, reason: "CRC mismatch in the batch at offset \(header.baseOffset)")
            }
            expectedOffset = header.lastOffset + 1
            position += total
        }
        return Validation(validBytes: position, reason: nil)
    }

    private func segmentBaseOffsets() throws -> [Int64] {
        guard let names = listDirectory(directory) else {
            throw StorageError.io(errno: errno, operation: "opendir", path: directory)
        }
        var bases: [Int64] = []
        for name in names {
            if name.hasSuffix(".tmp") {
                unlink(directory + "/" + name)
                continue
            }
            guard name.hasSuffix(".log"), name.count == 24, let base = Int64(name.prefix(20)) else { continue }
            bases.append(base)
        }
        return bases.sorted()
    }

    private func readOffsetFile(_ name: String) -> Int64? {
        guard let bytes = readWholeFile(path: directory + "/" + name), bytes.count == 8 else { return nil }
        return bytes.readBigEndianInt64(at: 0)
    }
}
