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

/// The frame decoder as a NIO `ByteToMessageDecoder`: the broker splits requests with it and
/// the client responses. A size prefix over the limit fails before any of the body is buffered.
public struct KafkaFrameToMessageDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer
    public let frames: KafkaFrameDecoder

    public init(frames: KafkaFrameDecoder) {
        self.frames = frames
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try frames.nextFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A peer that hangs up mid-frame just goes away; nothing to answer.
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        buffer.clear()
        return .needMoreData
    }
}
