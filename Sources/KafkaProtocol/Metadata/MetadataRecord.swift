import NIOCore

/// The type of a KRaft metadata record (the `apiKey` of its spec in `metadata/`), as Kafka's
/// MetadataRecordType numbers them. The constants and the decoder are generated.
public struct MetadataRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int16

    public init(rawValue: Int16) { self.rawValue = rawValue }

    public var name: String {
        Self.allSpecs.first { $0.type == self }?.name ?? "UnknownRecord(\(rawValue))"
    }

    public var description: String { name }
}

/// A metadata record as it is stored in `__cluster_metadata` and in snapshots, framed as Kafka's
/// AbstractApiMessageSerde frames it: an unsigned varint frame version (1), the record type and
/// the record version as unsigned varints, then the record.
public enum MetadataRecordFrame {
    public static let frameVersion: UInt32 = 1

    public static func write<Record: KafkaMessage>(_ record: Record, type: MetadataRecordType, version: Int16,
                                                   to buffer: inout ByteBuffer) throws {
        buffer.writeUnsignedVarint(frameVersion)
        buffer.writeUnsignedVarint(UInt32(UInt16(bitPattern: type.rawValue)))
        buffer.writeUnsignedVarint(UInt32(UInt16(bitPattern: version)))
        try record.write(to: &buffer, version: version)
    }

    public static func encode<Record: KafkaMessage>(_ record: Record, type: MetadataRecordType, version: Int16) throws -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        try write(record, type: type, version: version, to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Reads one framed record; the whole buffer must be that record.
    public static func read(from buffer: inout ByteBuffer) throws -> (type: MetadataRecordType, version: Int16, record: any KafkaMessage) {
        let frame = try buffer.readUnsignedVarint()
        guard frame == frameVersion else { throw KafkaProtocolError.unsupportedVersion(apiKey: -1, version: Int16(truncatingIfNeeded: frame)) }
        let rawType = try buffer.readUnsignedVarint()
        let rawVersion = try buffer.readUnsignedVarint()
        guard rawType <= UInt32(Int16.max), rawVersion <= UInt32(Int16.max) else { throw KafkaProtocolError.malformedVarint }
        let type = MetadataRecordType(rawValue: Int16(rawType))
        let version = Int16(rawVersion)
        let record = try type.decodeBody(from: &buffer, version: version)
        guard buffer.readableBytes == 0 else { throw KafkaProtocolError.invalidLength(buffer.readableBytes) }
        return (type, version, record)
    }
}
