import NIOCore

/// Splits a connection's bytes into Kafka frames without gathering them in one growing buffer.
///
/// A frame that lies inside one read is passed on as a slice of that read's buffer, no copy.
/// Only a frame cut by a read boundary is copied, once, into a buffer of its own, sized from
/// its length prefix. NIO's `ByteToMessageHandler` instead appends every read to one cumulation
/// buffer and compacts it: while earlier frames (slices of that buffer) are still alive, being
/// validated or written to disk, each append and compaction copied the whole buffer, which
/// was 22 % of the broker's CPU at 100k requests/s of 1 KiB records (issue #15).
///
/// A length prefix that is negative or over `maximumFrameSize` fails before any of the body is
/// buffered (`errorCaught`), and later bytes of that connection are dropped. A peer that hangs up
/// mid-frame just goes away.
public final class KafkaFrameHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private var frames: KafkaFrameDecoder
    /// The start of a frame that the last read cut: its prefix (possibly incomplete) and as much of
    /// its body as has arrived.
    private var partial: ByteBuffer?
    private var failed = false

    public init(frames: KafkaFrameDecoder) {
        self.frames = frames
    }

    /// The largest frame from now on. A SASL listener starts with a small one
    /// (`sasl.server.max.receive.size`) and raises it once the client has authenticated, so an
    /// unauthenticated client cannot make the broker hold a large frame. Call on the channel's
    /// event loop.
    public var maximumFrameSize: Int {
        get { frames.maximumFrameSize }
        set { frames.maximumFrameSize = newValue }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var input = Self.unwrapInboundIn(data)
        do {
            if partial != nil, let frame = try complete(from: &input, allocator: context.channel.allocator) {
                context.fireChannelRead(Self.wrapInboundOut(frame))
            }
            if partial == nil {
                while let frame = try frames.nextFrame(from: &input) {
                    context.fireChannelRead(Self.wrapInboundOut(frame))
                }
                if input.readableBytes > 0 { keep(&input, allocator: context.channel.allocator) }
            }
        } catch {
            failed = true
            partial = nil
            context.fireErrorCaught(error)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        partial = nil
        context.fireChannelInactive()
    }

    /// Copies the start of a cut frame into a buffer of its own, so the read's buffer is not kept
    /// alive for it.
    private func keep(_ input: inout ByteBuffer, allocator: ByteBufferAllocator) {
        var buffer = allocator.buffer(capacity: capacityFor(input))
        buffer.writeBuffer(&input)
        partial = buffer
    }

    /// Room for the whole frame when the prefix says how long it is (it has passed the size
    /// check by then), capped so a large frame grows as its bytes arrive.
    private func capacityFor(_ start: ByteBuffer) -> Int {
        guard let size = start.getInteger(at: start.readerIndex, as: Int32.self), size >= 0 else { return 64 }
        return min(4 + Int(size), 1 << 20)
    }

    /// Adds bytes of `input` to the partial frame; returns the frame once it is whole.
    private func complete(from input: inout ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer? {
        guard var buffer = partial else { return nil }
        partial = nil
        if buffer.readableBytes < 4 {
            if let prefix = input.readSlice(length: min(4 - buffer.readableBytes, input.readableBytes)) {
                buffer.writeImmutableBuffer(prefix)
            }
            guard buffer.readableBytes == 4 else {
                partial = buffer
                return nil
            }
            // The prefix is whole: check it before buffering any of the body.
            var probe = buffer
            if let empty = try frames.nextFrame(from: &probe) { return empty }
            buffer.reserveCapacity(minimumWritableBytes: capacityFor(buffer) - 4)
        }
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        let missing = 4 + Int(size) - buffer.readableBytes
        if let body = input.readSlice(length: min(missing, input.readableBytes)) {
            buffer.writeImmutableBuffer(body)
        }
        guard let frame = try frames.nextFrame(from: &buffer) else {
            partial = buffer
            return nil
        }
        return frame
    }
}
