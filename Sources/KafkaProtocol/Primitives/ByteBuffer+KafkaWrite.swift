import NIOCore

// Writers for Kafka's primitive types, the mirror of ByteBuffer+KafkaRead.
extension ByteBuffer {
    @inlinable
    public mutating func writeKafkaInteger<T: FixedWidthInteger>(_ value: T) {
        self.writeInteger(value, endianness: .big)
    }

    @inlinable
    public mutating func writeKafkaBool(_ value: Bool) {
        self.writeInteger(value ? 1 : 0, as: UInt8.self)
    }

    @inlinable
    public mutating func writeKafkaFloat64(_ value: Double) {
        self.writeInteger(value.bitPattern, endianness: .big)
    }

    @inlinable
    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        self.writeInteger(value.high, endianness: .big)
        self.writeInteger(value.low, endianness: .big)
    }

    @inlinable
    public mutating func writeUnsignedVarint(_ value: UInt32) {
        var remaining = value
        while remaining >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.writeInteger(UInt8(remaining))
    }

    @inlinable
    public mutating func writeUnsignedVarlong(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.writeInteger(UInt8(remaining))
    }

    @inlinable
    public mutating func writeVarint(_ value: Int32) {
        self.writeUnsignedVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    @inlinable
    public mutating func writeVarlong(_ value: Int64) {
        self.writeUnsignedVarlong(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Number of bytes `writeVarint` takes for `value`.
    @inlinable
    public static func varintSize(_ value: Int32) -> Int {
        unsignedVarintSize(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    @inlinable
    public static func varlongSize(_ value: Int64) -> Int {
        unsignedVarintSize(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inlinable
    public static func unsignedVarintSize(_ value: UInt64) -> Int {
        var size = 1
        var remaining = value >> 7
        while remaining != 0 {
            size += 1
            remaining >>= 7
        }
        return size
    }

    @inlinable
    mutating func writeKafkaLength(_ length: Int?, compact: Bool, wide: Bool, field: String) throws {
        if compact {
            let encoded = (length ?? -1) + 1
            guard encoded <= Int(UInt32.max) else { throw KafkaProtocolError.valueTooLarge(field: field) }
            self.writeUnsignedVarint(UInt32(encoded))
        } else if wide {
            let encoded = length ?? -1
            guard encoded <= Int(Int32.max) else { throw KafkaProtocolError.valueTooLarge(field: field) }
            self.writeInteger(Int32(encoded), endianness: .big)
        } else {
            let encoded = length ?? -1
            guard encoded <= Int(Int16.max) else { throw KafkaProtocolError.valueTooLarge(field: field) }
            self.writeInteger(Int16(encoded), endianness: .big)
        }
    }

    @inlinable
    public mutating func writeKafkaNullableString(_ value: String?, compact: Bool, field: String) throws {
        guard let value else {
            try self.writeKafkaLength(nil, compact: compact, wide: false, field: field)
            return
        }
        try self.writeKafkaLength(value.utf8.count, compact: compact, wide: false, field: field)
        self.writeString(value)
    }

    @inlinable
    public mutating func writeKafkaString(_ value: String, compact: Bool, field: String) throws {
        try self.writeKafkaNullableString(value, compact: compact, field: field)
    }

    @inlinable
    public mutating func writeKafkaNullableBytes(_ value: ByteBuffer?, compact: Bool, field: String) throws {
        guard let value else {
            try self.writeKafkaLength(nil, compact: compact, wide: true, field: field)
            return
        }
        try self.writeKafkaLength(value.readableBytes, compact: compact, wide: true, field: field)
        self.writeImmutableBuffer(value)
    }

    @inlinable
    public mutating func writeKafkaBytes(_ value: ByteBuffer, compact: Bool, field: String) throws {
        try self.writeKafkaNullableBytes(value, compact: compact, field: field)
    }

    @inlinable
    public mutating func writeKafkaNullableArray<Element>(
        _ value: [Element]?,
        compact: Bool,
        field: String,
        element: (inout ByteBuffer, Element) throws -> Void
    ) throws {
        guard let value else {
            try self.writeKafkaLength(nil, compact: compact, wide: true, field: field)
            return
        }
        try self.writeKafkaLength(value.count, compact: compact, wide: true, field: field)
        for item in value {
            try element(&self, item)
        }
    }

    @inlinable
    public mutating func writeKafkaArray<Element>(
        _ value: [Element],
        compact: Bool,
        field: String,
        element: (inout ByteBuffer, Element) throws -> Void
    ) throws {
        try self.writeKafkaNullableArray(value, compact: compact, field: field, element: element)
    }

    /// Writes one tagged field: its tag, its size, then what `body` writes.
    @inlinable
    public mutating func writeKafkaTaggedField(tag: UInt32, _ body: (inout ByteBuffer) throws -> Void) rethrows {
        var field = ByteBuffer()
        try body(&field)
        self.writeUnsignedVarint(tag)
        self.writeUnsignedVarint(UInt32(field.readableBytes))
        self.writeImmutableBuffer(field)
    }
}
