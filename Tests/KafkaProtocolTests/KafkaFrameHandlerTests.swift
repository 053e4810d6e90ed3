import KafkaProtocol
import NIOCore
import NIOEmbedded
import Testing

/// The frame splitter against every way a stream can be cut into reads.
@Suite("Frame handler")
struct KafkaFrameHandlerTests {
    /// Frames of assorted sizes, an empty one among them, as one byte stream.
    static func stream() -> (bytes: [UInt8], bodies: [[UInt8]]) {
        let bodies: [[UInt8]] = [Array("first".utf8), [], Array(repeating: 7, count: 300), Array("x".utf8),
                                 (0..<5000).map { UInt8(truncatingIfNeeded: $0) }]
        var bytes: [UInt8] = []
        for body in bodies {
            withUnsafeBytes(of: Int32(body.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: body)
        }
        return (bytes, bodies)
    }

    static func frames(of bytes: [UInt8], cutInto sizes: (Int) -> Int, maximum: Int = 1 << 20) throws -> (frames: [[UInt8]], error: (any Error)?) {
        let channel = EmbeddedChannel(handler: KafkaFrameHandler(frames: KafkaFrameDecoder(maximumFrameSize: maximum)))
        var error: (any Error)?
        var start = 0
        var read = 0
        while start < bytes.count {
            let end = min(bytes.count, start + max(1, sizes(read)))
            do {
                try channel.writeInbound(ByteBuffer(bytes: bytes[start..<end]))
            } catch let caught {
                error = caught
                break
            }
            start = end
            read += 1
        }
        var frames: [[UInt8]] = []
        while var frame = try channel.readInbound(as: ByteBuffer.self) {
            frames.append(frame.readBytes(length: frame.readableBytes) ?? [])
        }
        _ = try? channel.finish()
        return (frames, error)
    }

    @Test func everyCutGivesTheSameFrames() throws {
        let (bytes, bodies) = Self.stream()
        // Whole, byte by byte, and every fixed read size around the frame and prefix boundaries.
        for size in [bytes.count, 1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 64, 299, 304, 305, 306, 1000, 4999, 5004] {
            let got = try Self.frames(of: bytes, cutInto: { _ in size })
            #expect(got.error == nil)
            #expect(got.frames == bodies, "reads of \(size) bytes")
        }
        // Irregular reads.
        var seed: UInt64 = 42
        for _ in 0..<50 {
            let got = try Self.frames(of: bytes, cutInto: { _ in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return Int(seed >> 33) % 700
            })
            #expect(got.frames == bodies)
        }
    }

    @Test func aFrameHandedOnIsNotChangedByLaterReads() throws {
        let channel = EmbeddedChannel(handler: KafkaFrameHandler(frames: KafkaFrameDecoder()))
        // One whole frame and the start of the next in one read, the rest later.
        var first = ByteBuffer()
        first.writeInteger(Int32(3))
        first.writeString("abc")
        first.writeInteger(Int32(4))
        first.writeString("de")
        try channel.writeInbound(first)
        let held = try #require(try channel.readInbound(as: ByteBuffer.self))
        try channel.writeInbound(ByteBuffer(string: "fg"))
        let second = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(String(buffer: held) == "abc")
        #expect(String(buffer: second) == "defg")
        _ = try channel.finish()
    }

    @Test func anOversizedOrNegativePrefixFailsBeforeTheBodyAndStopsTheStream() throws {
        for prefix in [Int32(1025), -1] {
            var bytes: [UInt8] = []
            // A good frame first, then the bad prefix cut in two reads, then more bytes.
            for value in [Int32(1), prefix] { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
            bytes.insert(9, at: 4)
            bytes.append(contentsOf: Array(repeating: 1, count: 40))
            let got = try Self.frames(of: bytes, cutInto: { $0 == 0 ? 7 : 3 }, maximum: 1024)
            #expect(got.frames == [[9]])
            if prefix > 0 {
                guard case .frameTooLarge(size: 1025, maximum: 1024)? = got.error as? KafkaProtocolError else {
                    Issue.record("\(String(describing: got.error))")
                    continue
                }
            } else {
                guard case .invalidLength(-1)? = got.error as? KafkaProtocolError else {
                    Issue.record("\(String(describing: got.error))")
                    continue
                }
            }
        }
    }
}
