import NIOCore

/// One magic-2 record batch: its parsed header and its bytes, exactly as they arrived.
///
/// Reading the header, checking the CRC and counting records never decompress anything;
/// only `forEachRecord`/`records` do, bounded by a caller-given limit.
public struct RecordBatch: Sendable, Hashable {
    public let header: RecordBatchHeader
    /// The whole batch, header included (`header.totalSize` bytes).
    public let bytes: ByteBuffer

    /// Takes the next batch off a records blob (a Produce payload, a Fetch response's records,
    /// a segment). Returns nil when `buffer` is empty, or when it ends in a partial batch and
    /// `allowPartialTail` is set (fetch responses may cut the last batch short, as Kafka's do).
    public static func next(from buffer: inout ByteBuffer, allowPartialTail: Bool = false) throws -> RecordBatch? {
        guard buffer.readableBytes > 0 else { return nil }
        if allowPartialTail && buffer.readableBytes < RecordBatchHeader.size { return nil }
        let header = try RecordBatchHeader(peekingAt: buffer)
        guard buffer.readableBytes >= header.totalSize else {
            if allowPartialTail { return nil }
            throw RecordBatchError.truncated(needed: header.totalSize, available: buffer.readableBytes)
        }
        let bytes = buffer.readSlice(length: header.totalSize)!
        return RecordBatch(header: header, bytes: bytes)
    }

    /// Every batch in a records blob; throws on anything but whole batches.
    public static func all(in records: ByteBuffer) throws -> [RecordBatch] {
        var buffer = records
        var batches: [RecordBatch] = []
        while let batch = try next(from: &buffer) {
            batches.append(batch)
        }
        return batches
    }

    public init(header: RecordBatchHeader, bytes: ByteBuffer) {
        self.header = header
        self.bytes = bytes
    }

    /// CRC-32C over the attributes through the end of the batch, as written now.
    public var computedCRC: UInt32 {
        let start = bytes.readerIndex + RecordBatchHeader.attributesOffset
        return bytes.crc32c(at: start, length: header.totalSize - RecordBatchHeader.attributesOffset)
    }

    public func verifyCRC() throws {
        let computed = computedCRC
        guard computed == header.crc else {
            throw RecordBatchError.crcMismatch(stored: header.crc, computed: computed)
        }
    }

    /// The records section: compressed when the attributes say so.
    public var recordsPayload: ByteBuffer {
        bytes.getSlice(at: bytes.readerIndex + RecordBatchHeader.size, length: header.totalSize - RecordBatchHeader.size)!
    }

    /// Decompresses (when needed) and walks the records in order. Decompression stops with
    /// `CompressionError.outputTooLarge` past `decompressionLimit` bytes. Throws if the section
    /// holds another count of records than the header declares, or bytes after the last one.
    public func forEachRecord(decompressionLimit: Int, _ body: (Record) throws -> Void) throws {
        guard header.recordCount >= 0 else { throw RecordBatchError.invalidRecordCount(header.recordCount) }
        guard let codec = header.attributes.compression else {
            throw RecordBatchError.unknownCompression(header.attributes.compressionBits)
        }
        var payload = recordsPayload
        if codec != .none {
            payload = try codec.decompress(payload, limit: decompressionLimit)
        }
        guard Int(header.recordCount) <= payload.readableBytes / Record.minimumEncodedSize else {
            throw RecordBatchError.invalidRecordCount(header.recordCount)
        }
        var found = 0
        while payload.readableBytes > 0 {
            guard found < Int(header.recordCount) else {
                throw RecordBatchError.recordCountMismatch(declared: header.recordCount, found: found + 1)
            }
            try body(try Record.read(from: &payload))
            found += 1
        }
        guard found == Int(header.recordCount) else {
            throw RecordBatchError.recordCountMismatch(declared: header.recordCount, found: found)
        }
    }

    public func records(decompressionLimit: Int) throws -> [Record] {
        var result: [Record] = []
        // The count is untrusted: reserve no more than the bytes on hand could hold.
        let affordable = recordsPayload.readableBytes / Record.minimumEncodedSize
        result.reserveCapacity(max(0, min(Int(header.recordCount), affordable)))
        try forEachRecord(decompressionLimit: decompressionLimit) { result.append($0) }
        return result
    }
}
