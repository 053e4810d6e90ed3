import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

/// Random sequences of append, read, read-by-time, truncate, roll, DeleteRecords, retention and
/// restart, checked step by step against an in-memory model of the log.
@Suite("Log against a model")
struct LogModelTests {
    struct ModelBatch {
        let base: Int64
        let values: [String]
        let timestamps: [Int64]
        var last: Int64 { base + Int64(values.count) - 1 }
        var maxTimestamp: Int64 { timestamps.max()! }
    }

    struct Model {
        var batches: [ModelBatch] = []
        var logStartOffset: Int64 = 0
        var endOffset: Int64 = 0

        func batch(containing offset: Int64) -> ModelBatch? {
            batches.first { $0.last >= offset }
        }

        func offset(forTimestamp timestamp: Int64) -> (Int64, Int64)? {
            for batch in batches where batch.maxTimestamp >= timestamp {
                for (index, value) in batch.timestamps.enumerated() where value >= timestamp {
                    let offset = batch.base + Int64(index)
                    if offset >= logStartOffset { return (offset, value) }
                }
            }
            return nil
        }
    }

    @Test(arguments: [(LogWriterBackend.ioUring, URingWritePath.ring, UInt64(1)), (.pwrite, .automatic, 2),
                      (.ioUring, .inline, 3), (.pwrite, .automatic, 4)])
    func randomOperationsAgreeWithTheModel(backend: LogWriterBackend, uringWrites: URingWritePath, seed: UInt64) throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 3000
        config.indexIntervalBytes = 300
        let harness = try LogHarness(directory: directory.path, config: config, backend: backend, uringWrites: uringWrites)
        var model = Model()
        var rng = SeededRandom(seed: seed)
        var clock: Int64 = 10_000
        var counts: [String: Int] = [:]

        for step in 0..<1500 {
            let roll = rng.next(100)
            let context = "seed \(seed) step \(step)"
            switch roll {
            case 0..<55:
                counts["append", default: 0] += 1
                let count = 1 + rng.next(8)
                var builder = RecordBatchBuilder(compression: CompressionCodec.allCases[rng.next(5)])
                var values: [String] = []
                var timestamps: [Int64] = []
                clock += Int64(rng.next(50))
                for index in 0..<count {
                    let value = "s\(step)-r\(index)-" + String(repeating: "z", count: rng.next(60))
                    // Timestamps mostly rise, sometimes step back, as producers' clocks do.
                    let timestamp = clock + Int64(rng.next(20)) - 5
                    values.append(value)
                    timestamps.append(timestamp)
                    builder.append(key: nil, value: ByteBuffer(string: value), timestamp: timestamp)
                }
                let info = try harness.append(try builder.build())
                #expect(info.firstOffset == model.endOffset, "\(context)")
                model.batches.append(ModelBatch(base: model.endOffset, values: values, timestamps: timestamps))
                model.endOffset += Int64(count)
            case 55..<72:
                counts["read", default: 0] += 1
                let offset = model.logStartOffset + Int64(rng.next(Int(model.endOffset - model.logStartOffset) + 1))
                let batches = try harness.read(from: offset, maxBytes: 1 + rng.next(3000))
                if let expected = model.batch(containing: offset) {
                    let first = try #require(batches.first, "\(context): nothing read at \(offset)")
                    try first.verifyCRC()
                    #expect(first.header.baseOffset == expected.base, "\(context)")
                    #expect(try values(of: first) == expected.values, "\(context)")
                    for (index, record) in try first.records(decompressionLimit: 1 << 20).enumerated() {
                        #expect(first.header.baseTimestamp + record.timestampDelta == expected.timestamps[index])
                    }
                } else {
                    #expect(batches.isEmpty, "\(context)")
                }
                if model.logStartOffset > 0 {
                    #expect(throws: StorageError.self) { _ = try harness.read(from: model.logStartOffset - 1) }
                }
                #expect(throws: StorageError.self) { _ = try harness.read(from: model.endOffset + 1) }
            case 72..<82:
                counts["readByTime", default: 0] += 1
                let target = 10_000 + Int64(rng.next(Int(clock - 10_000) + 40))
                let found = try harness.onOwner { try $0.offset(forTimestamp: target) }
                let expected = model.offset(forTimestamp: target)
                #expect(found?.offset == expected?.0 && found?.timestamp == expected?.1, "\(context): timestamp \(target)")
            case 82..<86:
                counts["truncate", default: 0] += 1
                // Truncate at a batch boundary at or above the log start (as replication does).
                let candidates = model.batches.filter { $0.base > model.logStartOffset }.map(\.base) + [model.endOffset]
                let target = candidates[rng.next(candidates.count)]
                try harness.onOwner { try $0.truncate(to: target) }
                model.batches.removeAll { $0.base >= target }
                model.endOffset = target
            case 86..<89:
                counts["roll", default: 0] += 1
                try harness.onOwner { try $0.roll(nowMs: clock) }
            case 89..<92:
                counts["deleteRecords", default: 0] += 1
                let target = model.logStartOffset + Int64(rng.next(Int(model.endOffset - model.logStartOffset) + 1))
                let start = try harness.onOwner { try $0.deleteRecords(before: target) }
                model.logStartOffset = max(model.logStartOffset, target)
                #expect(start == model.logStartOffset, "\(context)")
            case 92..<94:
                counts["retention", default: 0] += 1
                var bytesConfig = config
                bytesConfig.retentionMs = -1
                bytesConfig.retentionBytes = Int64(2000 + rng.next(6000))
                harness.onOwner { $0.updateConfig(bytesConfig) }
                try harness.onOwner { _ = try $0.applyRetention(nowMs: clock) }
                harness.onOwner { $0.updateConfig(config) }
                let start = harness.onOwner { $0.logStartOffset }
                #expect(start >= model.logStartOffset)
                #expect(start == model.logStartOffset || model.batches.contains { $0.base == start } || start == model.endOffset,
                        "\(context): retention left the log starting inside a batch")
                model.logStartOffset = start
                model.batches.removeAll { $0.last < start }
            default:
                counts["restart", default: 0] += 1
                try harness.reopen(clean: rng.next(2) == 0)
            }
            #expect(harness.onOwner { $0.logEndOffset } == model.endOffset, "\(context)")
            #expect(harness.onOwner { $0.highWatermark } == model.endOffset, "\(context)")
            #expect(harness.onOwner { $0.logStartOffset } == model.logStartOffset, "\(context)")
        }
        print("model (\(backend), seed \(seed)): \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    }
}

struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    }

    mutating func next(_ bound: Int) -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(max(bound, 1)))
    }
}
