import NIOCore

// Readers for Kafka's primitive types. Every reader checks the remaining bytes before it
// allocates, so a lying length prefix costs an error, not memory.
extension ByteBuffer {
    @inlinable
    public mutating func readKafkaInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws -> T {
        guard let value = self.readInteger(endianness: .big, as: T.self) else {
            throw KafkaProtocolError.truncated(needed: MemoryLayout<T>.size, available: self.readableBytes)
        }
        return value
    }

    @inlinable
    public mutating func readKafkaBool() throws -> Bool {
        try self.readKafkaInteger(as: UInt8.self) != 0
    }

    @inlinable
    public mutating func readKafkaFloat64() throws -> Double {
        Double(bitPattern: try self.readKafkaInteger(as: UInt64.self))
    }

    @inlinable
    public mutating func readKafkaUUID() throws -> KafkaUUID {
        let high = try self.readKafkaInteger(as: UInt64.self)
        let low = try self.readKafkaInteger(as: UInt64.self)
        return KafkaUUID(high: high, low: low)
    }

    /// An unsigned LEB128 varint of at most 32 bits (compact lengths, tags, tagged-field sizes).
    @inlinable
    public mutating func readUnsignedVarint() throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard let byte = self.readInteger(as: UInt8.self) else {
                throw KafkaProtocolError.truncated(needed: 1, available: 0)
            }
            if shift == 28 && byte > 0x0F { throw KafkaProtocolError.malformedVarint }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// An unsigned LEB128 varint of at most 64 bits.
    @inlinable
    public mutating func readUnsignedVarlong() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = self.readInteger(as: UInt8.self) else {
                throw KafkaProtocolError.truncated(needed: 1, available: 0)
            }
            if shift == 63 && byte > 0x01 { throw KafkaProtocolError.malformedVarint }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A zigzag-encoded signed varint (record fields).
    @inlinable
    public mutating func readVarint() throws -> Int32 {
        let raw = try self.readUnsignedVarint()
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A zigzag-encoded signed varlong (record timestamp deltas).
    @inlinable
    public mutating func readVarlong() throws -> Int64 {
        let raw = try self.readUnsignedVarlong()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Takes `length` bytes as a slice that shares storage with this buffer (no copy).
    @inlinable
    public mutating func readKafkaSlice(length: Int) throws -> ByteBuffer {
        guard length >= 0 else { throw KafkaProtocolError.invalidLength(length) }
        guard let slice = self.readSlice(length: length) else {
            throw KafkaProtocolError.truncated(needed: length, available: self.readableBytes)
        }
        return slice
    }

    /// Reads a length prefix: int16 (strings) or int32 (bytes, arrays) in classic encodings,
    /// unsigned varint of length + 1 in compact ones. Returns nil for null.
    @inlinable
    mutating func readKafkaLength(compact: Bool, wide: Bool) throws -> Int? {
        let length: Int
        if compact {
            length = Int(try self.readUnsignedVarint()) - 1
        } else if wide {
            length = Int(try self.readKafkaInteger(as: Int32.self))
        } else {
            length = Int(try self.readKafkaInteger(as: Int16.self))
        }
        if length == -1 { return nil }
        guard length >= 0 else { throw KafkaProtocolError.invalidLength(length) }
        return length
    }

    @inlinable
    public mutating func readKafkaNullableString(compact: Bool) throws -> String? {
        guard let length = try self.readKafkaLength(compact: compact, wide: false) else { return nil }
        guard length <= self.readableBytes else {
            throw KafkaProtocolError.truncated(needed: length, available: self.readableBytes)
        }
        let view = self.readableBytesView.prefix(length)
        guard let string = String(validating: view, as: UTF8.self) else {
            throw KafkaProtocolError.invalidUTF8
        }
        self.moveReaderIndex(forwardBy: length)
        return string
    }

    @inlinable
    public mutating func readKafkaString(compact: Bool, field: String) throws -> String {
        guard let string = try self.readKafkaNullableString(compact: compact) else {
            throw KafkaProtocolError.unexpectedNull(field: field)
        }
        return string
    }

    @inlinable
    public mutating func readKafkaNullableBytes(compact: Bool) throws -> ByteBuffer? {
        guard let length = try self.readKafkaLength(compact: compact, wide: true) else { return nil }
        return try self.readKafkaSlice(length: length)
    }

    @inlinable
    public mutating func readKafkaBytes(compact: Bool, field: String) throws -> ByteBuffer {
        guard let bytes = try self.readKafkaNullableBytes(compact: compact) else {
            throw KafkaProtocolError.unexpectedNull(field: field)
        }
        return bytes
    }

    /// An array of elements that each take at least one byte, so a count beyond the remaining
    /// bytes is rejected before any storage is reserved.
    @inlinable
    public mutating func readKafkaNullableArray<Element>(
        compact: Bool,
        element: (inout ByteBuffer) throws -> Element
    ) throws -> [Element]? {
        guard let count = try self.readKafkaLength(compact: compact, wide: true) else { return nil }
        guard count <= self.readableBytes else {
            throw KafkaProtocolError.arrayTooLong(count: count, remainingBytes: self.readableBytes)
        }
        var result: [Element] = []
        // `count` is untrusted and an element can take far more memory than wire bytes (a
        // struct of 90 bytes for a few bytes on the wire): reserve only what the remaining
        // bytes could pay for, so a lying count costs no more than the frame; a real array
        // grows as its elements decode.
        result.reserveCapacity(Swift.min(count, self.readableBytes / Swift.max(1, MemoryLayout<Element>.stride)))
        for _ in 0..<count {
            result.append(try element(&self))
        }
        return result
    }

    @inlinable
    public mutating func readKafkaArray<Element>(
        compact: Bool,
        field: String,
        element: (inout ByteBuffer) throws -> Element
    ) throws -> [Element] {
        guard let array = try self.readKafkaNullableArray(compact: compact, element: element) else {
            throw KafkaProtocolError.unexpectedNull(field: field)
        }
        return array
    }

    /// Reads a tagged-field section, handing each field's bytes to `body` as its own slice;
    /// tags `body` does not know are skipped, as KIP-482 requires.
    @inlinable
    public mutating func readKafkaTaggedFields(_ body: (UInt32, inout ByteBuffer) throws -> Void) throws {
        let count = try self.readUnsignedVarint()
        guard Int(count) <= self.readableBytes else {
            throw KafkaProtocolError.arrayTooLong(count: Int(count), remainingBytes: self.readableBytes)
        }
        for _ in 0..<count {
            let tag = try self.readUnsignedVarint()
            let size = Int(try self.readUnsignedVarint())
            var field = try self.readKafkaSlice(length: size)
            try body(tag, &field)
        }
    }

    /// Reads a nullable-struct marker: int8 -1 for null, otherwise present.
    @inlinable
    public mutating func readKafkaStructPresence() throws -> Bool {
        try self.readKafkaInteger(as: Int8.self) >= 0
    }
}
