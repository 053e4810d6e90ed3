@testable import KafkaProtocol
import NIOCore
import Testing

@Suite("Compression codecs")
struct CompressionCodecTests {
    static func sample(_ size: Int, compressible: Bool, seed: UInt64 = 1) -> ByteBuffer {
        var rng = TestRandom(seed: seed)
        var buffer = ByteBuffer()
        let words = ["kafka", "sluice", "record", "batch", "offset", " "]
        while buffer.readableBytes < size {
            if compressible {
                buffer.writeString(words[Int(rng.next() % UInt64(words.count))])
            } else {
                buffer.writeInteger(rng.next())
            }
        }
        return buffer.getSlice(at: 0, length: size)!
    }

    @Test(arguments: CompressionCodec.allCases)
    func roundTripsAcrossSizes(codec: CompressionCodec) throws {
        for size in [0, 1, 100, 65_535, 65_536, 200_000, 1 << 20] {
            for compressible in [true, false] {
                let input = Self.sample(size, compressible: compressible)
                let compressed = try codec.compress(input)
                let output = try codec.decompress(compressed, limit: max(size, 1))
                #expect(output == input, "\(codec) size \(size) compressible \(compressible)")
            }
        }
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func decompressionIsBoundedByTheLimit(codec: CompressionCodec) throws {
        let input = ByteBuffer(repeating: 0, count: 8 << 20)
        let compressed = try codec.compress(input)
        #expect(compressed.readableBytes < input.readableBytes / 10)
        #expect(throws: CompressionError.outputTooLarge(codec: codec, limit: 1 << 20)) {
            _ = try codec.decompress(compressed, limit: 1 << 20)
        }
        // Exactly at the limit is fine; one byte under is not.
        #expect(try codec.decompress(compressed, limit: 8 << 20).readableBytes == 8 << 20)
        #expect(throws: CompressionError.outputTooLarge(codec: codec, limit: (8 << 20) - 1)) {
            _ = try codec.decompress(compressed, limit: (8 << 20) - 1)
        }
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func truncatedOrGarbageInputGivesAnErrorNotACrash(codec: CompressionCodec) throws {
        let input = Self.sample(50_000, compressible: true)
        let compressed = try codec.compress(input)
        for cut in [0, 1, 5, compressed.readableBytes / 2, compressed.readableBytes - 1] {
            let truncated = compressed.getSlice(at: 0, length: cut)!
            #expect(throws: (any Error).self, "\(codec) cut at \(cut)") {
                let output = try codec.decompress(truncated, limit: 1 << 20)
                // A prefix that happens to decode must not pretend to be the whole input.
                if output != input { throw CompressionError.corrupt(codec: codec, reason: "short") }
            }
        }
        var rng = TestRandom(seed: 7)
        for _ in 0..<200 {
            var garbage = ByteBuffer()
            for _ in 0..<Int(rng.next() % 300) { garbage.writeInteger(UInt8(truncatingIfNeeded: rng.next())) }
            _ = try? codec.decompress(garbage, limit: 1 << 20)
        }
    }

    @Test func snappyReadsRawAndXerialFraming() throws {
        let input = Self.sample(100_000, compressible: true)
        let xerial = try CompressionCodec.snappy.compress(input)
        #expect(xerial.readableBytesView.prefix(8).elementsEqual([0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]))
        #expect(try CompressionCodec.snappy.decompress(xerial, limit: 1 << 20) == input)
        let raw = try SnappyCodec.compressRaw(input)
        #expect(try CompressionCodec.snappy.decompress(raw, limit: 1 << 20) == input)
    }

    @Test func gzipReadsConcatenatedMembers() throws {
        let first = Self.sample(1000, compressible: true, seed: 1)
        let second = Self.sample(2000, compressible: true, seed: 2)
        var joined = try CompressionCodec.gzip.compress(first)
        joined.writeImmutableBuffer(try CompressionCodec.gzip.compress(second))
        var expected = first
        expected.writeImmutableBuffer(second)
        #expect(try CompressionCodec.gzip.decompress(joined, limit: 1 << 20) == expected)
    }

    @Test func codecNamesMatchKafka() {
        #expect(CompressionCodec.allCases.map(\.description) == ["none", "gzip", "snappy", "lz4", "zstd"])
        #expect(CompressionCodec(name: "zstd") == .zstd)
        #expect(CompressionCodec(name: "brotli") == nil)
    }
}
