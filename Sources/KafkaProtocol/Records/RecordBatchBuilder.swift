import NIOCore

/// Builds a magic-2 record batch from records, compressing the records section when asked.
/// Records are encoded as they are appended, so a batch holds one growing buffer rather than
/// the records' own buffers (the producer's hot path appends hundreds of thousands a second).
public struct RecordBatchBuilder: Sendable {
    public var baseOffset: Int64
    public var partitionLeaderEpoch: Int32
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var attributes: RecordBatchAttributes
    /// Room for the batch header, then the records section, uncompressed: an uncompressed
    /// batch is finished in place, with no copy.
    private var section: ByteBuffer
    public private(set) var count = 0
    public private(set) var baseTimestamp: Int64?
    public private(set) var maxTimestamp: Int64 = -1
    /// Uncompressed bytes of the records appended so far.
    public private(set) var recordsSize = 0

    public init(
        baseOffset: Int64 = 0, compression: CompressionCodec = .none, timestampType: TimestampType = .createTime,
        producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
        isTransactional: Bool = false, isControl: Bool = false, partitionLeaderEpoch: Int32 = -1,
        initialCapacity: Int = 1024
    ) {
        section = ByteBufferAllocator().buffer(capacity: max(initialCapacity, RecordBatchHeader.size))
        section.writeRepeatingByte(0, count: RecordBatchHeader.size)
        self.baseOffset = baseOffset
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.attributes = RecordBatchAttributes(
            compression: compression, timestampType: timestampType,
            isTransactional: isTransactional, isControl: isControl)
    }

    /// Size of the batch if it were built uncompressed now.
    public var estimatedSize: Int { RecordBatchHeader.size + recordsSize }

    /// Appends a record; offsets are consecutive from the batch's base offset. The record is
    /// encoded at once: varints through one raw write, key and value bytes copied once.
    public mutating func append(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        let base = baseTimestamp ?? timestamp
        if baseTimestamp == nil { baseTimestamp = timestamp }
        let timestampDelta = timestamp - base
        let offsetDelta = Int32(truncatingIfNeeded: count)
        let keyLength = key?.readableBytes ?? -1
        let valueLength = value?.readableBytes ?? -1
        var headersSize = ByteBuffer.varintSize(Int32(headers.count))
        for header in headers {
            let length = header.key.utf8.count
            headersSize += ByteBuffer.varintSize(Int32(length)) + length
                + (header.value.map { ByteBuffer.varintSize(Int32($0.readableBytes)) + $0.readableBytes } ?? 1)
        }
        let body = 1 + ByteBuffer.varlongSize(timestampDelta) + ByteBuffer.varintSize(offsetDelta)
            + ByteBuffer.varintSize(Int32(keyLength)) + max(keyLength, 0)
            + ByteBuffer.varintSize(Int32(valueLength)) + max(valueLength, 0) + headersSize
        let before = section.writerIndex
        let total = ByteBuffer.varintSize(Int32(body)) + body
        // The whole record, headers aside, in one write into reserved space: each ByteBuffer
        // call costs an exclusivity check and a capacity check, per record.
        section.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { bytes in
            var at = Self.putZigZag(Int64(body), into: bytes, at: 0)
            bytes[at] = 0  // attributes
            at += 1
            at = Self.putZigZag(timestampDelta, into: bytes, at: at)
            at = Self.putZigZag(Int64(offsetDelta), into: bytes, at: at)
            at = Self.putZigZag(Int64(keyLength), into: bytes, at: at)
            if let key { at = Self.copy(key, into: bytes, at: at) }
            at = Self.putZigZag(Int64(valueLength), into: bytes, at: at)
            if let value { at = Self.copy(value, into: bytes, at: at) }
            if headers.isEmpty {
                bytes[at] = 0  // header count 0, as a zig-zag varint
                at += 1
            }
            return at
        }
        if !headers.isEmpty { section.writeVarint(Int32(headers.count)) }
        for header in headers {
            section.writeVarint(Int32(header.key.utf8.count))
            section.writeString(header.key)
            if let headerValue = header.value {
                section.writeVarint(Int32(headerValue.readableBytes))
                section.writeImmutableBuffer(headerValue)
            } else {
                section.writeVarint(-1)
            }
        }
        recordsSize += section.writerIndex - before
        maxTimestamp = max(maxTimestamp, timestamp)
        count += 1
    }

    /// Writes a zig-zag varint (Kafka's varint and varlong) at `at`; returns the next index.
    @inline(__always)
    private static func putZigZag(_ value: Int64, into bytes: UnsafeMutableRawBufferPointer, at start: Int) -> Int {
        var remaining = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var at = start
        while remaining >= 0x80 {
            bytes[at] = UInt8(truncatingIfNeeded: remaining) | 0x80
            remaining >>= 7
            at += 1
        }
        bytes[at] = UInt8(remaining)
        return at + 1
    }

    /// Copies `buffer`'s readable bytes to `at`; returns the next index.
    @inline(__always)
    private static func copy(_ buffer: ByteBuffer, into bytes: UnsafeMutableRawBufferPointer, at start: Int) -> Int {
        buffer.withUnsafeReadableBytes { source in
            guard let from = source.baseAddress, let to = bytes.baseAddress, source.count > 0 else { return }
            (to + start).copyMemory(from: from, byteCount: source.count)
        }
        return start + buffer.readableBytes
    }

    /// The finished batch, CRC computed.
    public func build(compressionLevel: Int32? = nil) throws -> ByteBuffer {
        var copy = self
        return try copy.finish(compressionLevel: compressionLevel)
    }

    /// The finished batch, CRC computed; the builder is left empty. Uncompressed batches are
    /// finished in the builder's own buffer, so a builder nothing else references costs no copy.
    public mutating func finish(compressionLevel: Int32? = nil) throws -> ByteBuffer {
        let codec = attributes.compression ?? .none
        var batch: ByteBuffer
        if codec == .none {
            batch = section
            section = ByteBuffer()
        } else {
            let records = section.getSlice(at: section.readerIndex + RecordBatchHeader.size, length: recordsSize) ?? ByteBuffer()
            let payload = try codec.compress(records, level: compressionLevel)
            batch = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + payload.readableBytes)
            batch.writeRepeatingByte(0, count: RecordBatchHeader.size)
            batch.writeImmutableBuffer(payload)
        }
        let header = RecordBatchHeader(
            baseOffset: baseOffset,
            batchLength: Int32(batch.readableBytes - RecordBatchHeader.lengthFieldEnd),
            partitionLeaderEpoch: partitionLeaderEpoch, crc: 0, attributes: attributes,
            lastOffsetDelta: Int32(max(count - 1, 0)), baseTimestamp: baseTimestamp ?? -1,
            maxTimestamp: maxTimestamp, producerId: producerId, producerEpoch: producerEpoch,
            baseSequence: baseSequence, recordCount: Int32(count))
        var encodedHeader = ByteBuffer()
        encodedHeader.reserveCapacity(RecordBatchHeader.size)
        header.write(to: &encodedHeader)
        batch.setBuffer(encodedHeader, at: batch.readerIndex)
        let crc = batch.crc32c(
            at: batch.readerIndex + RecordBatchHeader.attributesOffset,
            length: batch.readableBytes - RecordBatchHeader.attributesOffset)
        batch.setInteger(crc, at: batch.readerIndex + RecordBatchHeader.crcOffset)
        return batch
    }
}
