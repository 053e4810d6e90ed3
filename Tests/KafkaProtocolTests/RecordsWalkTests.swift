import KafkaProtocol
import NIOCore
import Testing

/// The C walk of produce validation against the Swift record reader, which stays the
/// reference: on valid batches and on thousands of damaged ones they must agree.
@Suite("Records walk")
struct RecordsWalkTests {
    struct Rng {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(max(1, bound)))
        }
    }

    static func batch(_ rng: inout Rng, codec: CompressionCodec = .none) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(compression: codec)
        for i in 0..<(1 + rng.next(12)) {
            let key: ByteBuffer? = rng.next(3) == 0 ? nil : ByteBuffer(string: "k\(i)")
            let value: ByteBuffer? = rng.next(5) == 0 ? nil : ByteBuffer(repeating: UInt8(i), count: rng.next(200))
            let headers = (0..<rng.next(3)).map { RecordHeader(key: "h\($0)", value: rng.next(2) == 0 ? nil : ByteBuffer(string: "v")) }
            builder.append(key: key, value: value, headers: headers, timestamp: 1_700_000_000_000 + Int64(rng.next(5000)))
        }
        return try builder.build()
    }

    /// The reference: the Swift reader plus the offset-delta rule of produce validation.
    static func reference(_ batch: RecordBatch) -> RecordsWalk.Status {
        var expected: Int32 = 0
        do {
            var outOfOrder = false
            try batch.forEachRecord(decompressionLimit: 1 << 20) { record in
                if record.offsetDelta != expected && !outOfOrder { outOfOrder = true }
                expected += 1
            }
            return outOfOrder ? .offsetDeltaOutOfOrder : .ok
        } catch {
            return .malformed
        }
    }

    @Test(arguments: [CompressionCodec.none, .lz4, .zstd, .gzip, .snappy])
    func validBatchesPassWithEveryCodec(codec: CompressionCodec) throws {
        var rng = Rng(state: 7)
        for _ in 0..<200 {
            var bytes = try Self.batch(&rng, codec: codec)
            let batch = try #require(try RecordBatch.next(from: &bytes))
            let walk = try batch.walkRecords(decompressionLimit: 1 << 20)
            #expect(walk.status == .ok && walk.recordIndex == batch.header.recordCount, "\(walk)")
        }
    }

    @Test func damagedRecordsAreRefusedWheneverTheReaderRefusesThem() throws {
        var rng = Rng(state: 11)
        var refused = 0
        for round in 0..<5000 {
            let original = try Self.batch(&rng)
            var bytes = original
            let header = try RecordBatchHeader(peekingAt: bytes)
            let recordsLength = header.totalSize - RecordBatchHeader.size
            var damaged = header
            switch round % 4 {
            case 0: // flip a byte of the records section
                let at = RecordBatchHeader.size + rng.next(recordsLength)
                bytes.setInteger(bytes.getInteger(at: at, as: UInt8.self)! ^ UInt8(1 + rng.next(255)), at: at)
            case 1: // a varint byte that never ends
                let at = RecordBatchHeader.size + rng.next(recordsLength)
                bytes.setInteger(UInt8(0xFF), at: at)
            case 2: // another declared record count
                damaged.recordCount = header.recordCount + Int32(rng.next(3)) - 1
            default: // cut the section short (the header's size shrinks with it)
                bytes.moveWriterIndex(to: bytes.writerIndex - 1 - rng.next(min(recordsLength, 20)))
                damaged.batchLength = Int32(bytes.readableBytes - RecordBatchHeader.lengthFieldEnd)
            }
            let batch = RecordBatch(header: damaged, bytes: bytes)
            let walk = try batch.walkRecords(decompressionLimit: 1 << 20)
            let expected = Self.reference(batch)
            // Count mismatches are malformed to the reader (it throws): compare refusals.
            #expect((walk.status == .ok) == (expected == .ok), "round \(round): walk \(walk), reader \(expected)")
            if expected == .offsetDeltaOutOfOrder { #expect(walk.status == .offsetDeltaOutOfOrder) }
            if walk.status != .ok { refused += 1 }
        }
        #expect(refused > 2000, "damage outside values is refused: \(refused)")
    }

    @Test func timestampsOutsideTheRangeAndMissingKeysAreCounted() throws {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: ByteBuffer(string: "a"), timestamp: 1000)
        builder.append(key: ByteBuffer(string: "k"), value: nil, timestamp: 5000)
        builder.append(key: nil, value: nil, timestamp: 9000)
        var bytes = try builder.build()
        let batch = try #require(try RecordBatch.next(from: &bytes))
        let walk = try batch.walkRecords(decompressionLimit: 1 << 20, timestamps: 2000...8000, requireKeys: true)
        #expect(walk.status == .ok && walk.recordIndex == 3 && walk.timestampViolations == 2 && walk.missingKeys == 2, "\(walk)")
        #expect(try batch.walkRecords(decompressionLimit: 1 << 20).timestampViolations == 0)
    }
}
