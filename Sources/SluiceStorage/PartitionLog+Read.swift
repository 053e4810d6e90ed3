import Glibc
import KafkaProtocol
import Logging
import NIOCore

/// Reading a partition log: file regions for fetches, offsets by timestamp.
extension PartitionLog {
    // MARK: Reading

    /// How far a read may go: consumers to the high watermark, followers to the stable end.
    public enum ReadLimit: Sendable {
        case highWatermark
        case stableEnd
        /// read_committed: up to the last stable offset (whole batches: it is a batch boundary).
        case lastStable
    }

    /// Reads from `offset`: the batch containing it and what follows, up to `maxBytes` and never
    /// past `limit`. With `minOneMessage` the first batch is returned whole even when
    /// larger than `maxBytes` (KIP-74); without it nothing is returned unless the first batch
    /// fits, as Kafka's ReplicaManager does for a fetch's later partitions. The last batch may be
    /// cut short either way, as Kafka's fetches are. Data comes only from one segment; a fetch at
    /// the end of a segment continues in the next.
    public func read(from offset: Int64, maxBytes: Int, minOneMessage: Bool = true, limit: ReadLimit = .highWatermark) throws -> LogReadResult {
        if let failure { throw failure }
        let (end, location) = try bound(limit)
        guard offset >= logStartOffset, offset <= logEndOffset else {
            throw StorageError.offsetOutOfRange(requested: offset, logStartOffset: logStartOffset, logEndOffset: logEndOffset)
        }
        var result = LogReadResult(slices: [], highWatermark: highWatermark, logStartOffset: logStartOffset, logEndOffset: logEndOffset)
        guard offset < end, minOneMessage || maxBytes > 0 else { return result }
        var index = segmentIndex(containing: offset)
        while index < segments.count {
            let segment = segments[index]
            let limit = segment.baseOffset == location.segmentBase ? location.position
                : (segment.baseOffset > location.segmentBase ? 0 : segment.size)
            if limit > 0 {
                let located: (position: Int64, header: RecordBatchHeader)?
                do {
                    located = try segment.locate(offset: offset, before: limit)
                } catch let error as RecordBatchError {
                    throw damagedOnRead(segment, reason: "unreadable or cut batch on the way to offset \(offset): \(error)")
                }
                if let (position, header) = located {
                    // A first batch that does not fit is left out whole rather than cut: Kafka answers
                    // fetches v3+ with an empty record set when the first entry would be incomplete.
                    guard minOneMessage || maxBytes >= header.totalSize else { return result }
                    let wanted = min(limit - position, Int64(max(maxBytes, header.totalSize)))
                    let length = try checkedLength(segment, position: position, length: wanted)
                    result = LogReadResult(
                        slices: [FileRegionSlice(file: try segment.file(), position: position, length: Int(length))],
                        highWatermark: highWatermark, logStartOffset: logStartOffset, logEndOffset: logEndOffset)
                    return result
                }
                // No batch at or after the offset here (a cleaned segment may have lost its tail):
                // the next segment holds it.
            }
            if segment.baseOffset >= location.segmentBase { break }
            index += 1
        }
        return result
    }

    /// Every batch from the log start up to `limit`, oldest first, read in chunks of
    /// `chunkBytes`: how a coordinator loads its log. `body` also gets the offset reading goes
    /// on from (the first batch may begin below the log start: records before it are not the
    /// log's any more). Throws when the log does not advance (damage a read cannot pass).
    public func forEachBatch(limit: ReadLimit, chunkBytes: Int = 4 << 20, _ body: (RecordBatch, _ from: Int64) throws -> Void) throws {
        var offset = logStartOffset
        let end = try bound(limit).0
        while offset < end {
            let result = try read(from: offset, maxBytes: chunkBytes, limit: limit)
            guard let slice = result.slices.first else { break }
            var bytes = ByteBuffer(bytes: try slice.readBytes())
            let before = offset
            while let batch = try RecordBatch.next(from: &bytes, allowPartialTail: true) {
                guard batch.header.lastOffset >= offset else { continue }
                try body(batch, offset)
                offset = batch.header.lastOffset + 1
            }
            guard offset > before else {
                throw StorageError.corrupt(path: directory, reason: "the log does not advance at offset \(offset)")
            }
        }
    }

    /// Where a read with `limit` stops: the offset, and the segment and byte position of it.
    func bound(_ limit: ReadLimit) throws -> (Int64, (segmentBase: Int64, position: Int64)) {
        switch limit {
        case .highWatermark:
            return (highWatermark, highWatermarkLocation)
        case .stableEnd:
            return (stableEnd, stableEndLocation)
        case .lastStable:
            let stable = lastStableOffset
            guard stable < highWatermark else { return (highWatermark, highWatermarkLocation) }
            // The first batch of the earliest undecided transaction: the read stops before it.
            let segment = segments[segmentIndex(containing: stable)]
            let end = segment.baseOffset == highWatermarkLocation.segmentBase ? highWatermarkLocation.position : segment.size
            let located: (position: Int64, header: RecordBatchHeader)?
            do {
                located = try segment.locate(offset: stable, before: end)
            } catch let error as RecordBatchError {
                throw damagedOnRead(segment, reason: "unreadable or cut batch on the way to offset \(stable): \(error)")
            }
            return (stable, (segment.baseOffset, located?.position ?? 0))
        }
    }

    /// How much of `length` bytes from `position` may be served: every batch in it is checked
    /// once (`LogSegment.verify`); a damaged one is logged, counted and never served, so the
    /// read stops before it, or fails (KAFKA_STORAGE_ERROR) when it is the first batch asked
    /// for. Everything before and after a damaged batch stays readable.
    func checkedLength(_ segment: LogSegment, position: Int64, length: Int64) throws -> Int64 {
        for damage in try segment.verify(from: position, through: position + length) {
            health.recordCorruptBatch()
            logger.error("damaged batch found when read; it is not served", metadata: [
                "segment": "\(segment.logPath)", "bytes": "\(damage.range.lowerBound)-\(damage.range.upperBound)",
                "reason": "\(damage.reason)"])
        }
        guard let damage = segment.firstDamage(overlapping: position..<(position + length)) else { return length }
        guard damage.range.lowerBound > position else {
            throw StorageError.corrupt(path: segment.logPath, reason: "\(damage.reason) at byte \(damage.range.lowerBound)")
        }
        return damage.range.lowerBound - position
    }

    func damagedOnRead(_ segment: LogSegment, reason: String) -> StorageError {
        if !segment.headerDamageReported {
            segment.headerDamageReported = true
            health.recordCorruptBatch()
            logger.error("damaged segment found when read; it is not served", metadata: ["segment": "\(segment.logPath)", "reason": "\(reason)"])
        }
        return StorageError.corrupt(path: segment.logPath, reason: reason)
    }

    func segmentIndex(containing offset: Int64) -> Int {
        var low = 0
        var high = segments.count - 1
        var found = 0
        while low <= high {
            let mid = (low + high) / 2
            if segments[mid].baseOffset <= offset {
                found = mid
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        return found
    }

    /// The first record with a timestamp ≥ `timestamp` below the high watermark: its offset
    /// and timestamp, or nil when there is none (ListOffsets then answers -1).
    public func offset(forTimestamp timestamp: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        if let failure { throw failure }
        var found: (offset: Int64, timestamp: Int64)?
        for segment in segments where segment.maxTimestamp >= timestamp && segment.baseOffset < highWatermark {
            let limit = segment.baseOffset == highWatermarkLocation.segmentBase ? highWatermarkLocation.position : segment.size
            try segment.forEachBatch(atOrAfter: timestamp, before: limit) { position, header in
                guard header.lastOffset >= logStartOffset else { return true }
                if header.attributes.timestampType == .logAppendTime {
                    found = (max(header.baseOffset, logStartOffset), header.maxTimestamp)
                    return false
                }
                var buffer = ByteBuffer(bytes: try segment.file().read(at: position, count: header.totalSize))
                guard let batch = try RecordBatch.next(from: &buffer) else { return true }
                try batch.forEachRecord(decompressionLimit: 256 << 20) { record in
                    let recordTimestamp = header.baseTimestamp + record.timestampDelta
                    let recordOffset = header.baseOffset + Int64(record.offsetDelta)
                    if found == nil, recordTimestamp >= timestamp, recordOffset >= logStartOffset {
                        found = (recordOffset, recordTimestamp)
                    }
                }
                return found == nil
            }
            if let found { return found }
        }
        return nil
    }

    /// The batch holding the largest timestamp (below the high watermark), for ListOffsets'
    /// MAX_TIMESTAMP: its bytes, so the caller can find the exact record.
    public func batchWithMaxTimestamp() throws -> RecordBatch? {
        guard let segment = segments.filter({ $0.maxTimestamp >= 0 && $0.offsetOfMaxTimestamp < highWatermark })
            .max(by: { $0.maxTimestamp < $1.maxTimestamp }) else { return nil }
        let limit = segment.baseOffset == highWatermarkLocation.segmentBase ? highWatermarkLocation.position : segment.size
        guard let (position, header) = try segment.locate(offset: segment.offsetOfMaxTimestamp, before: limit) else { return nil }
        var buffer = ByteBuffer(bytes: try segment.file().read(at: position, count: header.totalSize))
        return try RecordBatch.next(from: &buffer)
    }
}
