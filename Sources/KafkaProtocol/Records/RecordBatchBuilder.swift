import NIOCore

/// Builds a magic-2 record batch from records, compressing the records section when asked.
public struct RecordBatchBuilder: Sendable {
    public var baseOffset: Int64
    public var partitionLeaderEpoch: Int32
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var attributes: RecordBatchAttributes
    public private(set) var records: [Record] = []
    public private(set) var baseTimestamp: Int64?
    public private(set) var maxTimestamp: Int64 = -1
    /// Uncompressed bytes of the records appended so far.
    public private(set) var recordsSize = 0

    public init(
        baseOffset: Int64 = 0, compression: CompressionCodec = .none, timestampType: TimestampType = .createTime,
        producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
        isTransactional: Bool = false, isControl: Bool = false, partitionLeaderEpoch: Int32 = -1
    ) {
        self.baseOffset = baseOffset
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.attributes = RecordBatchAttributes(
            compression: compression, timestampType: timestampType,
            isTransactional: isTransactional, isControl: isControl)
    }

    public var count: Int { records.count }
    /// Size of the batch if it were built uncompressed now.
    public var estimatedSize: Int { RecordBatchHeader.size + recordsSize }

    /// Appends a record; offsets are consecutive from the batch's base offset.
    public mutating func append(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        let base = baseTimestamp ?? timestamp
        if baseTimestamp == nil { baseTimestamp = timestamp }
        let record = Record(
            timestampDelta: timestamp - base, offsetDelta: Int32(records.count),
            key: key, value: value, headers: headers)
        recordsSize += record.encodedSize
        maxTimestamp = max(maxTimestamp, timestamp)
        records.append(record)
    }

    /// The finished batch, CRC computed.
    public func build(compressionLevel: Int32? = nil) throws -> ByteBuffer {
        var section = ByteBufferAllocator().buffer(capacity: recordsSize)
        for record in records {
            record.write(to: &section)
        }
        let codec = attributes.compression ?? .none
        let payload = codec == .none ? section : try codec.compress(section, level: compressionLevel)
        let header = RecordBatchHeader(
            baseOffset: baseOffset,
            batchLength: Int32(RecordBatchHeader.size - RecordBatchHeader.lengthFieldEnd + payload.readableBytes),
            partitionLeaderEpoch: partitionLeaderEpoch, crc: 0, attributes: attributes,
            lastOffsetDelta: Int32(max(records.count - 1, 0)), baseTimestamp: baseTimestamp ?? -1,
            maxTimestamp: maxTimestamp, producerId: producerId, producerEpoch: producerEpoch,
            baseSequence: baseSequence, recordCount: Int32(records.count))
        var batch = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + payload.readableBytes)
        header.write(to: &batch)
        batch.writeImmutableBuffer(payload)
        let crc = batch.crc32c(
            at: batch.readerIndex + RecordBatchHeader.attributesOffset,
            length: batch.readableBytes - RecordBatchHeader.attributesOffset)
        batch.setInteger(crc, at: batch.readerIndex + RecordBatchHeader.crcOffset)
        return batch
    }
}
