import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

@Suite("Partition log")
struct PartitionLogTests {
    @Test(arguments: [LogWriterBackend.ioUring, .pwrite])
    func appendAssignsOffsetsAndReadsBackTheSameBytes(backend: LogWriterBackend) throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path, backend: backend)
        let first = try harness.append(makeBatch(tag: 0, count: 3, timestamp: 1000))
        let second = try harness.append(makeBatch(tag: 1, count: 5, timestamp: 2000, compression: .lz4))
        #expect(first.firstOffset == 0 && first.lastOffset == 2)
        #expect(second.firstOffset == 3 && second.lastOffset == 7)
        #expect(harness.onOwner { $0.logEndOffset } == 8)
        #expect(harness.onOwner { $0.highWatermark } == 8)
        #expect(harness.onOwner { $0.durableOffset } == 8)

        let batches = try harness.read(from: 0)
        #expect(batches.map(\.header.baseOffset) == [0, 3])
        for batch in batches { try batch.verifyCRC() }
        #expect(try values(of: batches[1]) == (0..<5).map { "b1-r\($0)-" + String(repeating: "x", count: 20 - "b1-r\($0)-".count) })
        // Reading from inside a batch returns that whole batch.
        #expect(try harness.read(from: 5).map(\.header.baseOffset) == [3])
        // At the high watermark: nothing; past the end: out of range.
        #expect(try harness.read(from: 8).isEmpty)
        #expect(throws: StorageError.self) { _ = try harness.read(from: 9) }
    }

    @Test func firstBatchIsWholeEvenWhenLargerThanMaxBytes() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try harness.append(makeBatch(tag: 0, count: 50, timestamp: 1, valueSize: 200))
        try harness.append(makeBatch(tag: 1, count: 50, timestamp: 2, valueSize: 200))
        let result = try harness.onOwner { try $0.read(from: 0, maxBytes: 100) }
        let first = try #require(try harness.read(from: 0, maxBytes: 100).first)
        #expect(result.byteCount == first.header.totalSize)
    }

    /// A fetch's later partitions (Kafka's minOneMessage = false): a first batch that does not
    /// fit is left out rather than cut, a budget of 0 reads nothing, and what fits is returned
    /// up to the budget (the last batch may be cut short).
    @Test func withoutMinOneMessageTheReadStaysWithinMaxBytes() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try harness.append(makeBatch(tag: 0, count: 50, timestamp: 1, valueSize: 200))
        try harness.append(makeBatch(tag: 1, count: 50, timestamp: 2, valueSize: 200))
        let first = try #require(try harness.read(from: 0, maxBytes: 100).first).header.totalSize
        #expect(try harness.onOwner { try $0.read(from: 0, maxBytes: first - 1, minOneMessage: false) }.byteCount == 0)
        #expect(try harness.onOwner { try $0.read(from: 0, maxBytes: 0, minOneMessage: false) }.byteCount == 0)
        #expect(try harness.onOwner { try $0.read(from: 0, maxBytes: first + 10, minOneMessage: false) }.byteCount == first + 10)
        #expect(try harness.onOwner { try $0.read(from: 0, maxBytes: first - 1, minOneMessage: true) }.byteCount == first)
        // Out of range is still reported with nothing to read.
        #expect(throws: StorageError.self) { _ = try harness.onOwner { try $0.read(from: 101, maxBytes: 0, minOneMessage: false) } }
    }

    @Test func rollsBySizeAndSurvivesCleanAndUncleanRestarts() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 4096
        config.indexIntervalBytes = 512
        let harness = try LogHarness(directory: directory.path, config: config)
        for tag in 0..<40 {
            try harness.append(makeBatch(tag: tag, count: 4, timestamp: Int64(tag) * 10, valueSize: 200))
        }
        #expect(harness.onOwner { $0.segmentCount } > 5)
        for clean in [true, false] {
            try harness.reopen(clean: clean)
            #expect(harness.onOwner { $0.logEndOffset } == 160)
            #expect(harness.onOwner { $0.highWatermark } == 160)
            var offset: Int64 = 0
            var tags: [Int] = []
            while offset < 160 {
                let batches = try harness.read(from: offset, maxBytes: 1000)
                try #require(!batches.isEmpty)
                for batch in batches where batch.bytes.readableBytes == batch.header.totalSize {
                    try batch.verifyCRC()
                    tags.append(Int(batch.header.baseOffset / 4))
                    offset = batch.header.lastOffset + 1
                }
            }
            #expect(tags == Array(0..<40))
            let next = try harness.append(makeBatch(tag: 99, count: 1, timestamp: 5000))
            #expect(next.firstOffset == 160)
            try harness.onOwner { try $0.truncate(to: 160) }
        }
    }

    @Test func offsetForTimestampFindsTheFirstRecordAtOrAfterIt() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 2048
        config.indexIntervalBytes = 256
        let harness = try LogHarness(directory: directory.path, config: config)
        for tag in 0..<30 {
            // Records at 1000*tag + 0..<5, compressed every other batch.
            try harness.append(makeBatch(tag: tag, count: 5, timestamp: Int64(tag) * 1000, compression: tag % 2 == 0 ? .none : .zstd))
        }
        for clean in [true, false] {
            #expect(try harness.onOwner { try $0.offset(forTimestamp: 0) }?.offset == 0)
            #expect(try harness.onOwner { try $0.offset(forTimestamp: 3) }?.offset == 3)
            #expect(try harness.onOwner { try $0.offset(forTimestamp: 5) }?.offset == 5)
            #expect(try harness.onOwner { try $0.offset(forTimestamp: 17_003) }?.offset == 88)
            #expect(try harness.onOwner { try $0.offset(forTimestamp: 17_005) }?.offset == 90)
            #expect(try harness.onOwner { try $0.offset(forTimestamp: 29_004) }?.timestamp == 29_004)
            #expect(try harness.onOwner { try $0.offset(forTimestamp: 29_005) } == nil)
            try harness.reopen(clean: clean)
        }
    }

    @Test func logAppendTimeStampsTheBatchAndKeepsItsCRCValid() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.timestampType = .logAppendTime
        let harness = try LogHarness(directory: directory.path, config: config)
        harness.nowMs = 1_234_567
        let info = try harness.append(makeBatch(tag: 0, count: 3, timestamp: 1, compression: .gzip))
        #expect(info.logAppendTimeMs == 1_234_567)
        let batch = try #require(try harness.read(from: 0).first)
        try batch.verifyCRC()
        #expect(batch.header.attributes.timestampType == .logAppendTime)
        #expect(batch.header.maxTimestamp == 1_234_567)
        #expect(try values(of: batch).count == 3)
    }

    @Test func deleteRecordsAndRetentionMoveTheLogStartOffset() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1024
        config.retentionMs = 10_000
        let harness = try LogHarness(directory: directory.path, config: config)
        for tag in 0..<20 {
            try harness.append(makeBatch(tag: tag, count: 2, timestamp: Int64(tag) * 1000))
        }
        let segmentsBefore = harness.onOwner { $0.segmentCount }
        #expect(try harness.onOwner { try $0.deleteRecords(before: 7) } == 7)
        #expect(throws: StorageError.self) { _ = try harness.read(from: 6) }
        #expect(try harness.read(from: 7).first?.header.baseOffset == 6)
        // Retention at t = 25 s deletes segments whose newest record is older than 15 s.
        let deleted = try harness.onOwner { try $0.applyRetention(nowMs: 25_000) }
        #expect(deleted > 0)
        #expect(harness.onOwner { $0.segmentCount } == segmentsBefore - deleted)
        let start = harness.onOwner { $0.logStartOffset }
        #expect(start > 7)
        try harness.reopen(clean: false)
        #expect(harness.onOwner { $0.logStartOffset } == start)
        // retention.bytes keeps the newest segments under the limit.
        var bytesConfig = config
        bytesConfig.retentionMs = -1
        bytesConfig.retentionBytes = 1024
        harness.onOwner { $0.updateConfig(bytesConfig) }
        try harness.onOwner { _ = try $0.applyRetention(nowMs: 25_000) }
        #expect(harness.onOwner { $0.sizeInBytes } <= 2048)
    }

    @Test func kafkaStyleFlushingAcknowledgesAfterTheWriteAndSyncsInTheBackground() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.flushMessages = Int64.max
        let harness = try LogHarness(directory: directory.path, config: config)
        for tag in 0..<10 { try harness.append(makeBatch(tag: tag, count: 10, timestamp: 1)) }
        #expect(harness.onOwner { $0.highWatermark } == 100)
        #expect(harness.onOwner { $0.durableOffset } == 0)
        let box = ResultBox<Result<Void, StorageError>>()
        harness.onOwner { $0.flush { result in box.value = result; box.done.signal() } }
        box.done.wait()
        #expect(harness.onOwner { $0.durableOffset } == 100)
    }
}
