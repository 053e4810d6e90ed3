import KafkaProtocol
import NIOCore
import Testing

@Suite("Record batch v2")
struct RecordBatchTests {
    static func makeRecords(count: Int, seed: UInt64) -> [(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader], timestamp: Int64)] {
        var rng = TestRandom(seed: seed)
        return (0..<count).map { index in
            let key: ByteBuffer? = index % 3 == 0 ? nil : ByteBuffer(string: "key-\(index)")
            let value: ByteBuffer? = index % 5 == 4 ? nil : rng.nextBytes()
            let headers = index % 2 == 0 ? [] : [
                RecordHeader(key: "h\(index)", value: ByteBuffer(string: "v")),
                RecordHeader(key: "null-header", value: nil),
            ]
            return (key, value, headers, 1_700_000_000_000 + Int64(index) * 3)
        }
    }

    @Test(arguments: CompressionCodec.allCases)
    func buildThenReadBack(codec: CompressionCodec) throws {
        let input = Self.makeRecords(count: 50, seed: 3)
        var builder = RecordBatchBuilder(
            baseOffset: 1000, compression: codec, producerId: 42, producerEpoch: 3, baseSequence: 7)
        for record in input {
            builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp)
        }
        var bytes = try builder.build()
        let batch = try #require(try RecordBatch.next(from: &bytes))
        #expect(bytes.readableBytes == 0)
        try batch.verifyCRC()
        #expect(batch.header.baseOffset == 1000)
        #expect(batch.header.lastOffsetDelta == 49)
        #expect(batch.header.lastOffset == 1049)
        #expect(batch.header.recordCount == 50)
        #expect(batch.header.attributes.compression == codec)
        #expect(batch.header.baseTimestamp == 1_700_000_000_000)
        #expect(batch.header.maxTimestamp == 1_700_000_000_000 + 49 * 3)
        #expect(batch.header.producerId == 42 && batch.header.producerEpoch == 3 && batch.header.baseSequence == 7)
        #expect(batch.header.lastSequence == 56)
        let records = try batch.records(decompressionLimit: 1 << 20)
        #expect(records.count == 50)
        for (index, record) in records.enumerated() {
            #expect(record.offsetDelta == Int32(index))
            #expect(record.timestampDelta == Int64(index) * 3)
            #expect(record.key == input[index].key)
            #expect(record.value == input[index].value)
            #expect(record.headers == input[index].headers)
        }
    }

    @Test func everyFlippedBitIsCaughtByTheCRCOrTheParser() throws {
        var builder = RecordBatchBuilder(compression: .none)
        for record in Self.makeRecords(count: 5, seed: 9) {
            builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp)
        }
        let original = try builder.build()
        var undetected = 0
        for byte in RecordBatchHeader.attributesOffset..<original.readableBytes {
            for bit in 0..<8 {
                var damaged = original
                let value = damaged.getInteger(at: byte, as: UInt8.self)!
                damaged.setInteger(value ^ (1 << bit), at: byte)
                do {
                    guard let batch = try RecordBatch.next(from: &damaged) else { continue }
                    try batch.verifyCRC()
                    undetected += 1
                } catch {}
            }
        }
        #expect(undetected == 0)
    }

    @Test func oldMessageSetsAreRecognisedAndRefused() throws {
        for magic: Int8 in [0, 1] {
            var legacy = ByteBuffer()
            legacy.writeInteger(Int64(0))  // offset
            legacy.writeInteger(Int32(30))  // message size
            legacy.writeInteger(UInt32(0))  // crc
            legacy.writeInteger(magic)
            legacy.writeBytes([UInt8](repeating: 0, count: 40))
            #expect(throws: RecordBatchError.unsupportedMagic(magic)) { _ = try RecordBatch.next(from: &legacy) }
        }
    }

    @Test func truncatedAndLyingBatchesGiveTypedErrors() throws {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: ByteBuffer(string: "hello"), timestamp: 1)
        let batch = try builder.build()
        for cut in [0, 10, 17, 60, batch.readableBytes - 1] where cut > 0 {
            var partial = batch.getSlice(at: 0, length: cut)!
            #expect(throws: RecordBatchError.self) { _ = try RecordBatch.next(from: &partial) }
            var tolerant = partial
            #expect(try RecordBatch.next(from: &tolerant, allowPartialTail: true) == nil)
        }
        // batchLength smaller than a header.
        var short = batch
        short.setInteger(Int32(10), at: 8)
        #expect(throws: RecordBatchError.invalidBatchLength(10)) { _ = try RecordBatch.next(from: &short) }
        // A record count that disagrees with the records.
        var lying = batch
        lying.setInteger(Int32(2), at: 57)
        let parsed = try #require(try RecordBatch.next(from: &lying))
        #expect(throws: RecordBatchError.self) { _ = try parsed.records(decompressionLimit: 1 << 20) }
        var huge = batch
        huge.setInteger(Int32.max, at: 57)
        let hugeBatch = try #require(try RecordBatch.next(from: &huge))
        #expect(throws: RecordBatchError.invalidRecordCount(Int32.max)) { _ = try hugeBatch.records(decompressionLimit: 1 << 20) }
        // Compression bits 5-7 name no codec.
        var unknown = batch
        unknown.setInteger(Int16(6), at: 21)
        let unknownBatch = try #require(try RecordBatch.next(from: &unknown))
        #expect(throws: RecordBatchError.unknownCompression(6)) { _ = try unknownBatch.records(decompressionLimit: 1 << 20) }
    }

    @Test func headerAndCountAreReadableWithoutDecompressing() throws {
        var builder = RecordBatchBuilder(compression: .zstd)
        for index in 0..<1000 { builder.append(key: nil, value: ByteBuffer(string: "value \(index)"), timestamp: Int64(index)) }
        var bytes = try builder.build()
        let batch = try #require(try RecordBatch.next(from: &bytes))
        try batch.verifyCRC()
        #expect(batch.header.recordCount == 1000)
        // A limit far below the decompressed size proves the above never decompressed.
        #expect(throws: CompressionError.self) { _ = try batch.records(decompressionLimit: 100) }
    }

    @Test func zigzagVarintsMatchKafka() throws {
        // Vectors from Kafka's ByteUtilsTest.
        let cases: [(Int32, [UInt8])] = [
            (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-64, [0x7F]), (64, [0x80, 0x01]),
            (Int32.max, [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]), (Int32.min, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        ]
        for (value, bytes) in cases {
            var buffer = ByteBuffer()
            buffer.writeVarint(value)
            #expect(Array(buffer.readableBytesView) == bytes)
            #expect(try buffer.readVarint() == value)
            #expect(ByteBuffer.varintSize(value) == bytes.count)
        }
        var tooLong = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: KafkaProtocolError.malformedVarint) { _ = try tooLong.readVarint() }
        var longs = ByteBuffer()
        for value in [Int64.min, -1, 0, 1, Int64.max] { longs.writeVarlong(value) }
        for value in [Int64.min, -1, 0, 1, Int64.max] { #expect(try longs.readVarlong() == value) }
    }
}
