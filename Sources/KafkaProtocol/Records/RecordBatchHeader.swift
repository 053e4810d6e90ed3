import CSluiceCodecs
import NIOCore

/// How a batch's timestamps were assigned (attribute bit 3).
public enum TimestampType: Int8, Sendable, Hashable {
    case createTime = 0
    case logAppendTime = 1
}

/// The attributes field of a v2 record batch.
public struct RecordBatchAttributes: Hashable, Sendable {
    public var rawValue: Int16

    public init(rawValue: Int16) {
        self.rawValue = rawValue
    }

    public init(
        compression: CompressionCodec = .none, timestampType: TimestampType = .createTime,
        isTransactional: Bool = false, isControl: Bool = false
    ) {
        var raw = compression.rawValue
        if timestampType == .logAppendTime { raw |= 0x08 }
        if isTransactional { raw |= 0x10 }
        if isControl { raw |= 0x20 }
        self.rawValue = raw
    }

    /// The raw compression bits (0–7); `compression` is nil for the three that name no codec.
    public var compressionBits: Int16 { rawValue & 0x07 }
    public var compression: CompressionCodec? { CompressionCodec(rawValue: compressionBits) }
    public var timestampType: TimestampType {
        get { rawValue & 0x08 != 0 ? .logAppendTime : .createTime }
        set { rawValue = newValue == .logAppendTime ? rawValue | 0x08 : rawValue & ~0x08 }
    }
    public var isTransactional: Bool { rawValue & 0x10 != 0 }
    public var isControl: Bool { rawValue & 0x20 != 0 }
    /// Set by compaction when the batch carries a delete horizon (KIP-534).
    public var hasDeleteHorizon: Bool { rawValue & 0x40 != 0 }
}

/// The fixed 61-byte header of a magic-2 record batch.
public struct RecordBatchHeader: Hashable, Sendable {
    public static let size = 61
    /// Bytes before and including `batchLength`; `batchLength` counts what follows.
    public static let lengthFieldEnd = 12
    public static let magicOffset = 16
    public static let crcOffset = 17
    /// The CRC covers everything from the attributes to the end of the batch.
    public static let attributesOffset = 21
    public static let maxTimestampOffset = 35
    public static let baseTimestampOffset = 27

    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: RecordBatchAttributes
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    /// The whole batch's size on the wire and on disk.
    public var totalSize: Int { Self.lengthFieldEnd + Int(batchLength) }
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// The sequence of the last record (wrapping at Int32.max, as Kafka's does), or -1.
    public var lastSequence: Int32 {
        guard baseSequence >= 0 else { return -1 }
        let last = Int64(baseSequence) + Int64(lastOffsetDelta)
        return Int32(truncatingIfNeeded: last > Int64(Int32.max) ? last - Int64(Int32.max) - 1 : last)
    }

    /// Reads a header at the reader index of `buffer` without consuming anything. Checks the
    /// magic byte first, so an old message set is reported as such and not as garbage.
    public init(peekingAt buffer: ByteBuffer) throws {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= Self.magicOffset + 1 else {
            throw RecordBatchError.truncated(needed: Self.size, available: buffer.readableBytes)
        }
        let magic = buffer.getInteger(at: start + Self.magicOffset, as: Int8.self)!
        guard magic == 2 else { throw RecordBatchError.unsupportedMagic(magic) }
        guard buffer.readableBytes >= Self.size else {
            throw RecordBatchError.truncated(needed: Self.size, available: buffer.readableBytes)
        }
        var reader = buffer
        // The size checks above make every read below succeed.
        self.baseOffset = reader.readInteger(as: Int64.self)!
        self.batchLength = reader.readInteger(as: Int32.self)!
        self.partitionLeaderEpoch = reader.readInteger(as: Int32.self)!
        self.magic = reader.readInteger(as: Int8.self)!
        self.crc = reader.readInteger(as: UInt32.self)!
        self.attributes = RecordBatchAttributes(rawValue: reader.readInteger(as: Int16.self)!)
        self.lastOffsetDelta = reader.readInteger(as: Int32.self)!
        self.baseTimestamp = reader.readInteger(as: Int64.self)!
        self.maxTimestamp = reader.readInteger(as: Int64.self)!
        self.producerId = reader.readInteger(as: Int64.self)!
        self.producerEpoch = reader.readInteger(as: Int16.self)!
        self.baseSequence = reader.readInteger(as: Int32.self)!
        self.recordCount = reader.readInteger(as: Int32.self)!
        guard Int(batchLength) >= Self.size - Self.lengthFieldEnd else {
            throw RecordBatchError.invalidBatchLength(batchLength)
        }
    }

    public init(
        baseOffset: Int64 = 0, batchLength: Int32 = 0, partitionLeaderEpoch: Int32 = -1, crc: UInt32 = 0,
        attributes: RecordBatchAttributes = .init(), lastOffsetDelta: Int32 = 0, baseTimestamp: Int64 = -1,
        maxTimestamp: Int64 = -1, producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
        recordCount: Int32 = 0
    ) {
        self.baseOffset = baseOffset
        self.batchLength = batchLength
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.magic = 2
        self.crc = crc
        self.attributes = attributes
        self.lastOffsetDelta = lastOffsetDelta
        self.baseTimestamp = baseTimestamp
        self.maxTimestamp = maxTimestamp
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.recordCount = recordCount
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(baseOffset)
        buffer.writeInteger(batchLength)
        buffer.writeInteger(partitionLeaderEpoch)
        buffer.writeInteger(magic)
        buffer.writeInteger(crc)
        buffer.writeInteger(attributes.rawValue)
        buffer.writeInteger(lastOffsetDelta)
        buffer.writeInteger(baseTimestamp)
        buffer.writeInteger(maxTimestamp)
        buffer.writeInteger(producerId)
        buffer.writeInteger(producerEpoch)
        buffer.writeInteger(baseSequence)
        buffer.writeInteger(recordCount)
    }
}

extension ByteBuffer {
    /// CRC-32C of `length` bytes starting at `index`.
    public func crc32c(at index: Int, length: Int) -> UInt32 {
        self.withUnsafeReadableBytes { raw in
            let start = index - self.readerIndex
            return sluice_crc32c(0, raw.baseAddress.map { $0 + start }, length)
        }
    }
}
