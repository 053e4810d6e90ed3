import NIOCore

/// A record header. Keys are UTF-8 strings (read leniently, as Kafka's Java reader does);
/// values are bytes and may be null.
public struct RecordHeader: Hashable, Sendable {
    public var key: String
    public var value: ByteBuffer?

    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

/// One record inside a v2 batch, with its deltas relative to the batch header. Key, value and
/// header values are slices of the batch (or of its decompressed records), not copies.
public struct Record: Hashable, Sendable {
    public var attributes: Int8
    public var timestampDelta: Int64
    public var offsetDelta: Int32
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]

    public init(
        attributes: Int8 = 0, timestampDelta: Int64 = 0, offsetDelta: Int32 = 0,
        key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = []
    ) {
        self.attributes = attributes
        self.timestampDelta = timestampDelta
        self.offsetDelta = offsetDelta
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The smallest possible encoded record: length, attributes, three zero varints,
    /// two null lengths and an empty header count.
    static let minimumEncodedSize = 7

    /// Reads one length-prefixed record. The length must match the bytes its fields take.
    static func read(from buffer: inout ByteBuffer) throws -> Record {
        do {
            let length = Int(try buffer.readVarint())
            guard length >= Self.minimumEncodedSize - 1 else {
                throw RecordBatchError.malformedRecord("record length \(length)")
            }
            var body = try buffer.readKafkaSlice(length: length)
            let attributes = try body.readKafkaInteger(as: Int8.self)
            let timestampDelta = try body.readVarlong()
            let offsetDelta = try body.readVarint()
            let key = try Self.readNullableBytes(from: &body)
            let value = try Self.readNullableBytes(from: &body)
            let headerCount = Int(try body.readVarint())
            guard headerCount >= 0, headerCount <= body.readableBytes else {
                throw RecordBatchError.malformedRecord("header count \(headerCount)")
            }
            var headers: [RecordHeader] = []
            // A header takes 2 wire bytes at least but ~40 bytes here: reserve what the bytes pay for.
            headers.reserveCapacity(min(headerCount, body.readableBytes / MemoryLayout<RecordHeader>.stride))
            for _ in 0..<headerCount {
                let keyLength = Int(try body.readVarint())
                guard keyLength >= 0 else { throw RecordBatchError.malformedRecord("null header key") }
                let keyBytes = try body.readKafkaSlice(length: keyLength)
                let headerKey = String(decoding: keyBytes.readableBytesView, as: UTF8.self)
                headers.append(RecordHeader(key: headerKey, value: try Self.readNullableBytes(from: &body)))
            }
            guard body.readableBytes == 0 else {
                throw RecordBatchError.malformedRecord("\(body.readableBytes) bytes left inside a record")
            }
            return Record(
                attributes: attributes, timestampDelta: timestampDelta, offsetDelta: offsetDelta,
                key: key, value: value, headers: headers)
        } catch let error as KafkaProtocolError {
            throw RecordBatchError.malformedRecord("\(error)")
        }
    }

    private static func readNullableBytes(from buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let length = Int(try buffer.readVarint())
        if length == -1 { return nil }
        guard length >= 0 else { throw RecordBatchError.malformedRecord("length \(length)") }
        return try buffer.readKafkaSlice(length: length)
    }

    /// Size of the record's body (everything after its length varint).
    var bodySize: Int {
        var size = 1 + ByteBuffer.varlongSize(timestampDelta) + ByteBuffer.varintSize(offsetDelta)
        size += Self.nullableBytesSize(key) + Self.nullableBytesSize(value)
        size += ByteBuffer.varintSize(Int32(headers.count))
        for header in headers {
            let keyLength = header.key.utf8.count
            size += ByteBuffer.varintSize(Int32(keyLength)) + keyLength + Self.nullableBytesSize(header.value)
        }
        return size
    }

    /// Bytes this record takes in a batch, length prefix included.
    public var encodedSize: Int {
        let body = bodySize
        return ByteBuffer.varintSize(Int32(body)) + body
    }

    private static func nullableBytesSize(_ bytes: ByteBuffer?) -> Int {
        guard let bytes else { return 1 }
        return ByteBuffer.varintSize(Int32(bytes.readableBytes)) + bytes.readableBytes
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeVarint(Int32(bodySize))
        buffer.writeInteger(attributes)
        buffer.writeVarlong(timestampDelta)
        buffer.writeVarint(offsetDelta)
        Self.writeNullableBytes(key, to: &buffer)
        Self.writeNullableBytes(value, to: &buffer)
        buffer.writeVarint(Int32(headers.count))
        for header in headers {
            buffer.writeVarint(Int32(header.key.utf8.count))
            buffer.writeString(header.key)
            Self.writeNullableBytes(header.value, to: &buffer)
        }
    }

    private static func writeNullableBytes(_ bytes: ByteBuffer?, to buffer: inout ByteBuffer) {
        guard let bytes else {
            buffer.writeVarint(-1)
            return
        }
        buffer.writeVarint(Int32(bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
    }
}
