import NIOCore

/// Splits a byte stream into Kafka frames: an int32 size, then that many bytes.
///
/// The size is checked against `maximumFrameSize` (Kafka's `socket.request.max.bytes`) before
/// any byte of the body is buffered, so a hostile 2 GiB prefix costs an error, not memory.
public struct KafkaFrameDecoder: Sendable {
    public var maximumFrameSize: Int

    public init(maximumFrameSize: Int = 100 * 1024 * 1024) {
        self.maximumFrameSize = maximumFrameSize
    }

    /// Returns the next complete frame's body (without its size prefix) as a slice of `buffer`,
    /// or nil when more bytes are needed. Throws when the size prefix is negative or too large.
    public func nextFrame(from buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else {
            return nil
        }
        guard size >= 0 else { throw KafkaProtocolError.invalidLength(Int(size)) }
        guard Int(size) <= maximumFrameSize else {
            throw KafkaProtocolError.frameTooLarge(size: Int(size), maximum: maximumFrameSize)
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(size))
    }
}

extension ByteBuffer {
    /// Reserves the int32 size prefix of a frame; `endKafkaFrame(at:)` fills it in.
    public mutating func beginKafkaFrame() -> Int {
        let index = self.writerIndex
        self.writeInteger(Int32(0))
        return index
    }

    public mutating func endKafkaFrame(at index: Int) {
        self.setInteger(Int32(self.writerIndex - index - 4), at: index, endianness: .big)
    }
}
