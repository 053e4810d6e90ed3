import Glibc
import KafkaProtocol
import Logging
import NIOCore
import Testing
@testable import SluiceStorage

/// The cleaner against a model of the latest value per key: random keys, values, tombstones,
/// codecs and an idempotent producer, cleanings with offset maps large and small, and crashes
/// (a reopen from disk) before a swap commits and after each of its steps.
@Suite("Log cleaner")
struct LogCleanerTests {
    struct Appended {
        let key: String?
        let value: String?
    }

    /// A record as a full read returns it.
    struct ReadRecord: Equatable {
        let offset: Int64
        let key: String?
        let value: String?
    }

    static let deleteRetentionMs: Int64 = 1_000
    static let producerId: Int64 = 7

    static func readAll(_ harness: LogHarness) throws -> [ReadRecord] {
        let (start, end) = harness.onOwner { ($0.logStartOffset, $0.highWatermark) }
        var records: [ReadRecord] = []
        var offset = start
        while offset < end {
            let batches = try harness.read(from: offset, maxBytes: 1 << 20)
            guard let last = batches.last else { break }
            for batch in batches {
                try batch.forEachRecord(decompressionLimit: 1 << 24) { record in
                    let at = batch.header.baseOffset + Int64(record.offsetDelta)
                    guard at >= offset else { return }
                    records.append(ReadRecord(offset: at, key: record.key.map { String(buffer: $0) },
                                              value: record.value.map { String(buffer: $0) }))
                }
            }
            offset = last.header.lastOffset + 1
        }
        return records
    }

    struct SwapInterrupted: Error {}

    /// Cleans as the broker's cleaner would: plan on the owner, clean off it, swap on it.
    static func clean(_ harness: LogHarness, firstDirty: Int64, mapBytes: Int,
                      interruptAfter: PartitionLog.SwapStep? = nil) throws -> CleaningOutcome? {
        guard let plan = harness.onOwner({
            $0.cleaningPlan(firstDirtyOffset: firstDirty, nowMs: harness.nowMs, deleteRetentionMs: deleteRetentionMs, minCompactionLagMs: 0)
        }) else { return nil }
        guard let outcome = try SegmentCleaner.clean(plan, mapBytes: mapBytes) else { return nil }
        try harness.onOwner { log in
            do {
                try log.swapIn(outcome) { step in if step == interruptAfter { throw SwapInterrupted() } }
            } catch is SwapInterrupted {}
        }
        return outcome
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func randomCleaningsAndCrashesKeepTheLatestValueOfEveryKey(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1_500
        config.indexIntervalBytes = 200
        let harness = try LogHarness(directory: directory.path, config: config, backend: .pwrite)
        var rng = SeededRandom(seed: seed)
        var appended: [Int64: Appended] = [:]
        var latest: [String: (offset: Int64, value: String?, appendedMs: Int64)] = [:]
        var sequence: Int32 = 0
        var lastProducerSequence: Int32 = -1
        var firstDirty: Int64 = 0
        var cleanings = 0
        var crashes = 0
        var removed: Int64 = 0
        for step in 0..<160 {
            let roll = rng.next(100)
            if roll < 75 {
                let count = 1 + rng.next(4)
                let idempotent = rng.next(4) == 0
                var builder = RecordBatchBuilder(compression: [CompressionCodec.none, .lz4, .zstd, .gzip][rng.next(4)],
                                                 producerId: idempotent ? Self.producerId : -1, producerEpoch: idempotent ? 0 : -1,
                                                 baseSequence: idempotent ? sequence : -1)
                var pending: [Appended] = []
                for index in 0..<count {
                    let key = "key-\(rng.next(12))"
                    let value: String? = rng.next(6) == 0 ? nil : "s\(step)-r\(index)-" + String(repeating: "v", count: rng.next(40))
                    builder.append(key: ByteBuffer(string: key), value: value.map { ByteBuffer(string: $0) }, timestamp: harness.nowMs)
                    pending.append(Appended(key: key, value: value))
                }
                let info = try harness.append(try builder.build())
                for (index, record) in pending.enumerated() {
                    let offset = info.firstOffset + Int64(index)
                    appended[offset] = record
                    latest[record.key!] = (offset, record.value, harness.nowMs)
                }
                if idempotent {
                    lastProducerSequence = sequence + Int32(count) - 1
                    sequence += Int32(count)
                }
            } else if roll < 92 {
                let mapBytes = rng.next(3) == 0 ? 24 * 40 : 1 << 20
                let crash = rng.next(5) == 0 ? PartitionLog.SwapStep.allCases.randomElement(using: &rng.generator) : nil
                if let outcome = try? Self.clean(harness, firstDirty: firstDirty, mapBytes: mapBytes, interruptAfter: crash) {
                    cleanings += 1
                    removed += outcome.recordsRemoved
                    if let crash {
                        crashes += 1
                        _ = crash
                        try harness.reopen(clean: false)
                    } else {
                        firstDirty = outcome.cleanedThrough
                    }
                }
            } else if roll < 96 {
                // A crash with a cleaning written but not committed: the restart drops it.
                if let plan = harness.onOwner({
                    $0.cleaningPlan(firstDirtyOffset: firstDirty, nowMs: harness.nowMs, deleteRetentionMs: Self.deleteRetentionMs,
                                    minCompactionLagMs: 0)
                }), (try? SegmentCleaner.clean(plan, mapBytes: 1 << 20)) != nil {
                    crashes += 1
                    try harness.reopen(clean: false)
                }
            } else {
                try harness.reopen(clean: rng.next(2) == 0)
            }
            harness.nowMs += Int64(100 + rng.next(400))

            // Every record read is the one appended at its offset; offsets only increase.
            let records = try Self.readAll(harness)
            for (previous, next) in zip(records, records.dropFirst()) {
                #expect(previous.offset < next.offset, "seed \(seed) step \(step): offsets \(previous.offset) then \(next.offset)")
            }
            for record in records {
                let original = appended[record.offset]
                #expect(original?.key == record.key && original?.value == record.value,
                        "seed \(seed) step \(step): offset \(record.offset) reads \(record) but held \(String(describing: original))")
            }
            // Of every key, the last record read is its latest: a value, or a tombstone (or,
            // once the tombstone's horizon passed, nothing at all).
            var lastRead: [String: ReadRecord] = [:]
            for record in records { if let key = record.key { lastRead[key] = record } }
            for (key, expected) in latest {
                if let found = lastRead[key] {
                    #expect(found.offset == expected.offset && found.value == expected.value,
                            "seed \(seed) step \(step): \(key) reads \(found), latest is \(expected)")
                } else {
                    #expect(expected.value == nil, "seed \(seed) step \(step): \(key) lost its value \(expected)")
                    // A tombstone stays readable for delete.retention.ms at least.
                    #expect(harness.nowMs - expected.appendedMs >= Self.deleteRetentionMs,
                            "seed \(seed) step \(step): the tombstone of \(key) went \(harness.nowMs - expected.appendedMs) ms after it came")
                }
            }
            // What the cleaner has covered holds each key once.
            var cleanKeys = Set<String>()
            for record in records where record.offset < firstDirty {
                guard let key = record.key else { continue }
                #expect(cleanKeys.insert(key).inserted, "seed \(seed) step \(step): \(key) twice below the cleaned offset \(firstDirty)")
            }
            // A read from any offset, removed or not, continues at the first record at or after
            // it, as a consumer does: records before the offset skipped, past a batch that
            // keeps its last offset but not its last records.
            if let first = records.first, let last = records.last {
                let offset = first.offset + Int64(rng.next(Int(last.offset - first.offset) + 1))
                var position = offset
                var served: Int64?
                while served == nil, position <= last.offset {
                    let batches = try harness.read(from: position, maxBytes: 1)
                    guard let batch = batches.first else { break }
                    served = try batch.records(decompressionLimit: 1 << 24).map { batch.header.baseOffset + Int64($0.offsetDelta) }
                        .first { $0 >= offset }
                    position = batch.header.lastOffset + 1
                }
                let next = records.first { $0.offset >= offset }
                #expect(served == next?.offset,
                        "seed \(seed) step \(step): a read at \(offset) served \(String(describing: served)), expected \(String(describing: next))")
            }
            // The producer's last batch survives, so a restart still knows its last sequence.
            if lastProducerSequence >= 0 {
                #expect(harness.onOwner { $0.producerState.producer(Self.producerId)?.batches.last?.lastSequence } == lastProducerSequence,
                        "seed \(seed) step \(step)")
            }
        }
        #expect(cleanings > 3, "seed \(seed): only \(cleanings) cleanings ran")
        #expect(removed > 0, "seed \(seed): the cleanings removed nothing")
        let files = listDirectory(directory.path) ?? []
        #expect(!files.contains { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") }, "\(files)")
        _ = crashes
    }
}

extension LogCleanerTests {
    /// One batch per segment (segment.bytes 1), so every batch but the last is cleanable.
    static func harnessWithOneBatchPerSegment(_ directory: TemporaryDirectory) throws -> LogHarness {
        var config = LogConfig()
        config.segmentBytes = 1
        return try LogHarness(directory: directory.path, config: config, backend: .pwrite)
    }

    static func batch(_ records: [(String?, String?)], producerId: Int64 = -1, baseSequence: Int32 = -1,
                      compression: CompressionCodec = .none, timestamp: Int64) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(compression: compression, producerId: producerId, producerEpoch: producerId >= 0 ? 0 : -1,
                                         baseSequence: baseSequence)
        for (key, value) in records {
            builder.append(key: key.map { ByteBuffer(string: $0) }, value: value.map { ByteBuffer(string: $0) }, timestamp: timestamp)
        }
        return try builder.build()
    }

    /// KIP-534: the first cleaning that keeps a tombstone stamps its batch with a delete
    /// horizon (now + delete.retention.ms); cleanings before the horizon keep it, the first one
    /// after removes it, and the record timestamps survive the rebasing.
    @Test func aTombstoneStaysUntilItsDeleteHorizon() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.harnessWithOneBatchPerSegment(directory)
        try harness.append(Self.batch([("a", "1"), ("b", "1")], timestamp: 5_000))
        try harness.append(Self.batch([("a", nil)], timestamp: 6_000))
        try harness.append(Self.batch([("c", "1")], timestamp: 7_000))
        let stampedAt = harness.nowMs
        var outcome = try #require(try Self.clean(harness, firstDirty: 0, mapBytes: 1 << 20))
        #expect(outcome.recordsRemoved == 1)  // a's value
        var records = try Self.readAll(harness)
        #expect(records.map(\.offset) == [1, 2, 3])
        #expect(records.first { $0.key == "a" }?.value == nil)
        let tombstoneBatch = try #require(try harness.read(from: 2).first)
        #expect(tombstoneBatch.header.deleteHorizonMs == stampedAt + Self.deleteRetentionMs)
        #expect(tombstoneBatch.header.timestamp(ofDelta: try tombstoneBatch.records(decompressionLimit: 1 << 20)[0].timestampDelta) == 6_000)

        harness.nowMs = stampedAt + Self.deleteRetentionMs - 1
        try harness.append(Self.batch([("d", "1")], timestamp: 8_000))
        outcome = try #require(try Self.clean(harness, firstDirty: outcome.cleanedThrough, mapBytes: 1 << 20))
        #expect(try Self.readAll(harness).contains { $0.key == "a" && $0.value == nil })

        harness.nowMs = stampedAt + Self.deleteRetentionMs
        try harness.append(Self.batch([("e", "1")], timestamp: 9_000))
        _ = try #require(try Self.clean(harness, firstDirty: outcome.cleanedThrough, mapBytes: 1 << 20))
        records = try Self.readAll(harness)
        #expect(!records.contains { $0.key == "a" })
        #expect(records.map(\.key) == ["b", "c", "d", "e"])
    }

    /// The last batch of an idempotent producer survives as a header without records when
    /// cleaning removes all of them, so after a crash the broker still knows its last sequence
    /// and takes the next batch instead of answering OUT_OF_ORDER_SEQUENCE_NUMBER.
    @Test func aProducersLastBatchSurvivesAsAnEmptyBatch() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.harnessWithOneBatchPerSegment(directory)
        try harness.append(Self.batch([("a", "1"), ("b", "1")], producerId: 7, baseSequence: 0, compression: .lz4, timestamp: 1))
        try harness.append(Self.batch([("a", "2"), ("b", "2")], timestamp: 2))
        try harness.append(Self.batch([("c", "1")], timestamp: 3))
        _ = try #require(try Self.clean(harness, firstDirty: 0, mapBytes: 1 << 20))
        let kept = try #require(try harness.read(from: 0).first)
        #expect(kept.header.baseOffset == 0 && kept.header.lastOffset == 1 && kept.header.recordCount == 0)
        #expect(kept.header.producerId == 7 && kept.header.lastSequence == 1)
        try kept.verifyCRC()
        #expect(try Self.readAll(harness).map(\.value) == ["2", "2", "1"])
        // A crash: the producer table is rebuilt from the log alone.
        unlink(directory.path + "/" + PartitionLog.producerStateFile)
        try harness.reopen(clean: false)
        #expect(harness.onOwner { $0.producerState.producer(7)?.batches.last?.lastSequence } == 1)
        let next = try harness.append(Self.batch([("d", "1")], producerId: 7, baseSequence: 2, timestamp: 4))
        #expect(next.firstOffset == 5)
    }

    /// A cleaned segment has gaps; recovery after an unclean stop that checks it from the start
    /// (no recovery point) accepts them, and reads keep working.
    @Test func recoveryAcceptsTheGapsOfCleanedSegments() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.harnessWithOneBatchPerSegment(directory)
        for round in 0..<4 {
            try harness.append(Self.batch([("k", "\(round)")], compression: .zstd, timestamp: Int64(round)))
            try harness.append(Self.batch([("other-\(round)", "x")], timestamp: Int64(round)))
        }
        // One group for all cleanable segments: the batches of k before 6 leave gaps inside it.
        harness.onOwner { log in
            var config = log.config
            config.segmentBytes = 1 << 20
            log.updateConfig(config)
        }
        _ = try #require(try Self.clean(harness, firstDirty: 0, mapBytes: 1 << 20))
        #expect(harness.onOwner { $0.segmentBaseOffsets } == [0, 7])
        let before = try Self.readAll(harness)
        #expect(before.map(\.offset) == [1, 3, 5, 6, 7])
        unlink(directory.path + "/" + LogLoader.recoveryPointFile)
        try harness.reopen(clean: false)
        #expect(try Self.readAll(harness) == before)
        #expect(harness.onOwner { $0.logEndOffset } == 8)
    }

    /// Records without a key cannot be kept by key: the cleaner removes them and counts them.
    @Test func keylessRecordsAreRemovedAndCounted() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.harnessWithOneBatchPerSegment(directory)
        try harness.append(Self.batch([(nil, "lost"), ("a", "1")], timestamp: 1))
        try harness.append(Self.batch([("b", "1")], timestamp: 2))
        let outcome = try #require(try Self.clean(harness, firstDirty: 0, mapBytes: 1 << 20))
        #expect(outcome.recordsWithoutKey == 1)
        #expect(try Self.readAll(harness).map(\.key) == ["a", "b"])
    }
}

extension LogCleanerTests {
    /// compact,delete: retention (or a follower's truncation) that changes the segments between a
    /// plan and its swap voids the cleaning: nothing is swapped, the cleaned files go, and every
    /// record left is still the one appended at its offset.
    @Test(arguments: ["retention", "truncation"])
    func aSwapAfterTheSegmentsChangedIsAbandoned(change: String) throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1
        config.compactionEnabled = true
        config.retentionEnabled = true
        config.retentionMs = 1_000
        let harness = try LogHarness(directory: directory.path, config: config, backend: .pwrite)
        for round in 0..<5 { try harness.append(Self.batch([("k", "\(round)"), ("o\(round)", "x")], timestamp: harness.nowMs)) }
        let plan = try #require(harness.onOwner {
            $0.cleaningPlan(firstDirtyOffset: 0, nowMs: harness.nowMs, deleteRetentionMs: Self.deleteRetentionMs, minCompactionLagMs: 0)
        })
        let outcome = try #require(try SegmentCleaner.clean(plan, mapBytes: 1 << 20))
        let before = try Self.readAll(harness)
        if change == "retention" {
            harness.nowMs += 10_000
            #expect(try harness.onOwner { try $0.applyRetention(nowMs: harness.nowMs) } > 0)
        } else {
            try harness.onOwner { try $0.truncate(to: 6) }
        }
        let left = try Self.readAll(harness)
        #expect(try harness.onOwner { try $0.swapIn(outcome) } == false)
        #expect(try Self.readAll(harness) == left)
        #expect(left.allSatisfy { record in before.contains(record) })
        let files = listDirectory(directory.path) ?? []
        #expect(!files.contains { $0.hasSuffix(".cleaned") }, "\(files)")
    }
}

/// The broker's cleaner thread's choices, driven one pass at a time: it cleans a compacted log
/// that reached its dirty ratio, records where in `cleaner-offset-checkpoint`, leaves clean and
/// uncompacted logs alone, and leaves a log whose cleaning failed alone for a while instead of
/// failing on it in a loop.
@Suite("Log cleaner thread")
struct LogCleanerThreadTests {
    static func compactedHarness(_ directory: TemporaryDirectory) throws -> LogHarness {
        var config = LogConfig()
        config.segmentBytes = 1
        config.compactionEnabled = true
        config.minCleanableDirtyRatio = 0.3
        return try LogHarness(directory: directory.path + "/t-0", config: config, backend: .pwrite)
    }

    static func cleaner(_ directory: TemporaryDirectory, _ harness: LogHarness) -> LogCleaner {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let now = harness.nowMs
        return LogCleaner(dataDirectory: directory.path, settings: LogCleaner.Settings(), clock: { now }, logger: logger)
    }

    @Test func aPassCleansTheDirtyCompactedLogAndCheckpointsIt() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.compactedHarness(directory)
        let cleaner = Self.cleaner(directory, harness)
        cleaner.register(harness.log, topic: "t", partition: 0)
        for round in 0..<4 { try harness.append(LogCleanerTests.batch([("k", "\(round)")], timestamp: Int64(round))) }
        #expect(cleaner.cleanDirtiest())
        #expect(try LogCleanerTests.readAll(harness).map(\.offset) == [2, 3])
        #expect(String(decoding: readWholeFile(path: directory.path + "/cleaner-offset-checkpoint") ?? [], as: UTF8.self) == "0\n1\nt 0 3\n")
        #expect(cleaner.statistics.runs == 1 && cleaner.statistics.recordsRemoved == 2)
        // Nothing dirty since: the next pass has nothing to do.
        #expect(!cleaner.cleanDirtiest())
        // A new cleaner (a restart) starts from the checkpoint.
        let restarted = Self.cleaner(directory, harness)
        restarted.register(harness.log, topic: "t", partition: 0)
        #expect(!restarted.cleanDirtiest())
    }

    /// The cleaner skips logs that are not compacted without visiting their owner, and picks one
    /// up as soon as a config change makes it compacted (cleanup.policy altered at run time).
    @Test func aLogAlteredToCompactIsCleanedFromThen() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.compactedHarness(directory)
        var config = harness.onOwner { $0.config }
        config.compactionEnabled = false
        harness.onOwner { $0.updateConfig(config) }
        let cleaner = Self.cleaner(directory, harness)
        cleaner.register(harness.log, topic: "t", partition: 0)
        for round in 0..<4 { try harness.append(LogCleanerTests.batch([("k", "\(round)")], timestamp: Int64(round))) }
        #expect(!harness.log.isCompacted)
        #expect(!cleaner.cleanDirtiest())
        config.compactionEnabled = true
        harness.onOwner { $0.updateConfig(config) }
        #expect(harness.log.isCompacted)
        #expect(cleaner.cleanDirtiest())
        #expect(try LogCleanerTests.readAll(harness).map(\.offset) == [2, 3])
    }

    /// compact,delete: a segment the cleaner left empty has no record time; retention ages it
    /// by when it was created, as Kafka's largestTimestamp does, instead of deleting it at once
    /// (which would move the log start, and ListOffsets' earliest, with nothing expired).
    @Test func anEmptyCleanedSegmentExpiresByItsAgeNotAtOnce() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.compactedHarness(directory)
        var config = harness.onOwner { $0.config }
        config.retentionEnabled = true
        config.retentionMs = 60_000
        harness.onOwner { $0.updateConfig(config) }
        let cleaner = Self.cleaner(directory, harness)
        cleaner.register(harness.log, topic: "t", partition: 0)
        for round in 0..<4 { try harness.append(LogCleanerTests.batch([("k", "\(round)")], timestamp: harness.nowMs)) }
        #expect(cleaner.cleanDirtiest())
        #expect(try LogCleanerTests.readAll(harness).map(\.offset) == [2, 3])
        let now = harness.nowMs
        #expect(try harness.onOwner { try $0.applyRetention(nowMs: now + 1_000) } == 0)
        #expect(harness.onOwner { $0.logStartOffset } == 0)
        #expect(try harness.onOwner { try $0.applyRetention(nowMs: now + 61_000) } >= 1)
        #expect(harness.onOwner { $0.logStartOffset } > 0)
    }

    @Test func aFailedCleaningIsNotRetriedAtOnce() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.compactedHarness(directory)
        let cleaner = Self.cleaner(directory, harness)
        cleaner.register(harness.log, topic: "t", partition: 0)
        for round in 0..<4 { try harness.append(LogCleanerTests.batch([("k", "\(round)")], timestamp: Int64(round))) }
        // A flipped byte inside the first closed segment's records: the cleaner checks each CRC.
        let path = harness.directory + "/" + LogSegment.fileName(baseOffset: 0, suffix: ".log")
        var bytes = try #require(readWholeFile(path: path))
        bytes[bytes.count - 2] ^= 0xFF
        let fd = open(path, O_WRONLY)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        close(fd)
        #expect(!cleaner.cleanDirtiest())
        #expect(cleaner.statistics.failures == 1)
        #expect(!cleaner.cleanDirtiest())
        #expect(cleaner.statistics.failures == 1, "the failed log rests instead of failing again at once")
        #expect(harness.onOwner { $0.segmentCount } == 4, "nothing was swapped")
    }

    /// A shutdown stops a cleaning between segments: no failure counted, no file left, the log
    /// as it was (the next start cleans it again).
    @Test func aShutdownStopsACleaningBetweenSegments() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.compactedHarness(directory)
        let cleaner = Self.cleaner(directory, harness)
        cleaner.register(harness.log, topic: "t", partition: 0)
        for round in 0..<4 { try harness.append(LogCleanerTests.batch([("k", "\(round)")], timestamp: Int64(round))) }
        let before = try LogCleanerTests.readAll(harness)
        cleaner.shutdown()
        #expect(!cleaner.cleanDirtiest())
        #expect(cleaner.statistics.failures == 0 && cleaner.statistics.runs == 0)
        #expect(try LogCleanerTests.readAll(harness) == before)
        let files = listDirectory(harness.directory) ?? []
        #expect(!files.contains { $0.contains(".cleaned") }, "\(files)")
    }

    /// Kafka's maxSegmentMs: a compacted log's active segment rolls by max.compaction.lag.ms
    /// too, so no record waits longer than that to become cleanable.
    @Test func aCompactedLogRollsByMaxCompactionLag() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.compactionEnabled = true
        config.maxCompactionLagMs = 1_000
        let harness = try LogHarness(directory: directory.path, config: config, backend: .pwrite)
        try harness.append(LogCleanerTests.batch([("k", "1")], timestamp: 1))
        harness.nowMs += 999
        try harness.append(LogCleanerTests.batch([("k", "2")], timestamp: 2))
        #expect(harness.onOwner { $0.segmentCount } == 1)
        harness.nowMs += 2
        try harness.append(LogCleanerTests.batch([("k", "3")], timestamp: 3))
        #expect(harness.onOwner { $0.segmentCount } == 2)
    }
}

extension SeededRandom {
    /// A `RandomNumberGenerator` view, for `randomElement(using:)`.
    var generator: Generator {
        get { Generator(source: self) }
        set { self = newValue.source }
    }

    struct Generator: RandomNumberGenerator {
        var source: SeededRandom
        mutating func next() -> UInt64 { UInt64(source.next(Int.max)) }
    }
}
