import Glibc
import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

/// The aborted-transaction index (`.txnindex`), as Kafka keeps it: an entry per ABORT marker
/// that ended an open transaction, in the marker's segment, 34 bytes in Kafka's layout; what a
/// read_committed fetch is told (Kafka's collectAbortedTxns); and its life through restarts,
/// crashes, truncation, retention and cleaning.
@Suite("Aborted transaction index")
struct TransactionIndexTests {
    typealias T = TransactionStateTests

    /// Producer 1 opens at 0; producer 2's transaction (2–3) aborts at 4 while 1 is open;
    /// producer 3 commits an empty marker at 5; producer 1 aborts at 6.
    static func history(_ harness: LogHarness) throws {
        try harness.append(T.batch(producer: 1, sequence: 0, tag: "p1"))
        try harness.append(T.batch(producer: 2, sequence: 0, tag: "p2"))
        try T.marker(harness, .abort, producer: 2)
        try T.marker(harness, .commit, producer: 3)
        try T.marker(harness, .abort, producer: 1)
    }

    static let expected = [
        AbortedTransaction(producerId: 2, firstOffset: 2, lastOffset: 4, lastStableOffset: 0),
        AbortedTransaction(producerId: 1, firstOffset: 0, lastOffset: 6, lastStableOffset: 7),
    ]

    static func all(_ harness: LogHarness) -> [AbortedTransaction] {
        harness.onOwner { $0.abortedTransactions(from: $0.logStartOffset, upTo: $0.logEndOffset) }
    }

    @Test func anAbortIsRecordedInKafkasLayout() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try Self.history(harness)
        #expect(Self.all(harness) == Self.expected)
        let bytes = try #require(readWholeFile(path: directory.path + "/00000000000000000000.txnindex"))
        #expect(bytes.count == 2 * 34)
        // version 0, producer 2, first 2, last 4, last stable 0
        var entry: [UInt8] = [0, 0]
        for value: Int64 in [2, 2, 4, 0] {
            for shift in stride(from: 56, through: 0, by: -8) { entry.append(UInt8(truncatingIfNeeded: value >> Int64(shift))) }
        }
        #expect(Array(bytes[0..<34]) == entry)
    }

    /// Kafka's collection: entries whose data overlaps [fetchOffset, upperBound), from the
    /// fetch offset's segment on, stopping at the first whose last stable offset reaches the
    /// upper bound.
    @Test func aFetchIsToldOfTheAbortedTransactionsItsRangeOverlaps() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1  // one batch a segment: the walk crosses segments
        let harness = try LogHarness(directory: directory.path, config: config)
        try Self.history(harness)
        #expect(harness.onOwner { $0.segmentCount } == 5)
        #expect(harness.onOwner { $0.abortedTransactions(from: 0, upTo: 3) } == [Self.expected[0], Self.expected[1]],
                "both overlap [0, 3); the walk stops at producer 1's entry, whose last stable offset 7 reaches 3")
        #expect(harness.onOwner { $0.abortedTransactions(from: 0, upTo: 2) } == [Self.expected[1]],
                "producer 2's data begins at 2, past [0, 2)")
        #expect(harness.onOwner { $0.abortedTransactions(from: 5, upTo: 7) } == [Self.expected[1]])
        #expect(harness.onOwner { $0.abortedTransactions(from: 7, upTo: 7) }.isEmpty)
    }

    @Test(arguments: [true, false])
    func entriesSurviveARestart(clean: Bool) throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try Self.history(harness)
        try harness.reopen(clean: clean)
        #expect(Self.all(harness) == Self.expected)
    }

    @Test func aCrashThatLostTheIndexRebuildsItAndDropsEntriesPastTheLog() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try Self.history(harness)
        let path = directory.path + "/00000000000000000000.txnindex"
        // The index lost (never written back), plus an entry for a marker that never reached the log.
        unlink(path)
        let bogus = AbortedTransaction(producerId: 9, firstOffset: 1, lastOffset: 40, lastStableOffset: 41)
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        _ = bogus.bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        try harness.reopen(clean: false)
        #expect(Self.all(harness) == Self.expected, "replay wrote the entries again; the one past the log end went")
    }

    @Test func truncationRetentionAndCleaningKeepTheIndexTrue() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1
        config.compactionEnabled = true
        let harness = try LogHarness(directory: directory.path, config: config)
        try Self.history(harness)
        try harness.append(T.plain("tail"))
        // Cleaning rewrites the closed segments; markers stay, and so do their entries.
        let plan = try #require(harness.onOwner {
            $0.cleaningPlan(firstDirtyOffset: 0, nowMs: harness.nowMs, deleteRetentionMs: 1_000_000, minCompactionLagMs: 0)
        })
        let outcome = try #require(try SegmentCleaner.clean(plan, mapBytes: 1 << 20))
        #expect(try harness.onOwner { try $0.swapIn(outcome) })
        #expect(Self.all(harness) == Self.expected)
        try harness.reopen(clean: true)
        #expect(Self.all(harness) == Self.expected, "the cleaned segment's index was swapped in with it")
        // A follower truncating below producer 1's marker loses that entry.
        try harness.onOwner { try $0.truncate(to: 6) }
        #expect(Self.all(harness) == [Self.expected[0]])
        // Retention (DeleteRecords) deletes the segment holding producer 2's marker, and its index.
        _ = try harness.onOwner { try $0.deleteRecords(before: 6) }
        #expect(Self.all(harness).isEmpty)
        let names = listDirectory(directory.path) ?? []
        #expect(!names.contains { $0.hasSuffix(".txnindex") }, "\(names)")
    }

    /// The cleaner and transactions, as Kafka's: an aborted transaction's records never stand
    /// for a key's latest value and are removed; a committed one's are data like any other;
    /// markers stay. Here "k" is written plainly, then by an aborted transaction, then by a
    /// committed one, then "j" only by the aborted one.
    @Test func cleaningRemovesAbortedRecordsAndKeepsCommittedOnes() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.compactedLog(directory)
        let transactional = Self.transactional
        try harness.append(LogCleanerTests.batch([("k", "plain")], timestamp: 1_000))        // 0
        try harness.append(transactional(1, 0, [("k", "aborted"), ("j", "aborted")]))       // 1–2
        try T.marker(harness, .abort, producer: 1)                                          // 3
        try harness.append(transactional(1, 2, [("k", "aborted-again")]))                   // 4
        try T.marker(harness, .abort, producer: 1)                                          // 5
        try harness.append(LogCleanerTests.batch([("m", "plain")], timestamp: 1_000))        // 6
        try harness.append(transactional(2, 0, [("m", "committed")]))                       // 7
        try T.marker(harness, .commit, producer: 2)                                         // 8
        try harness.append(LogCleanerTests.batch([("tail", "x")], timestamp: 1_000))         // 9: active
        let plan = try #require(harness.onOwner {
            $0.cleaningPlan(firstDirtyOffset: 0, nowMs: harness.nowMs, deleteRetentionMs: 1_000_000, minCompactionLagMs: 0)
        })
        let outcome = try #require(try SegmentCleaner.clean(plan, mapBytes: 1 << 20))
        #expect(try harness.onOwner { try $0.swapIn(outcome) })
        var batches: [RecordBatch] = []
        var offset: Int64 = 0
        while offset < 10, let next = try harness.read(from: offset, maxBytes: 1 << 20).last {
            batches += try harness.read(from: offset, maxBytes: 1 << 20)
            offset = next.header.lastOffset + 1
        }
        let data = try batches.filter { !$0.header.attributes.isControl }.flatMap { batch in
            try batch.records(decompressionLimit: 1 << 20).map {
                "\(batch.header.baseOffset + Int64($0.offsetDelta)):" + String(buffer: $0.key!) + "=" + String(buffer: $0.value!)
            }
        }
        #expect(data == ["0:k=plain", "7:m=committed", "9:tail=x"])
        // The markers are still there (read_committed consumers need them to move past).
        #expect(batches.filter { $0.header.attributes.isControl }.map(\.header.baseOffset) == [3, 5, 8])
        // Producer 1's last batch stays as an empty header, so its sequence survives.
        #expect(batches.contains { $0.header.producerId == 1 && $0.header.baseOffset == 4 && $0.header.recordCount == 0 })
    }

    /// Markers go as Kafka's cleaner removes them: once no batch of their transaction is left,
    /// a cleaning stamps them with a delete horizon, and the first one after it removes them,
    /// an ABORT marker with its aborted-transaction index entry. A marker stays while a batch of
    /// its transaction does; a producer's last batch always stays, so its marker does too.
    @Test func markersGoOnceTheirTransactionIsGoneAndTheirHorizonHasPassed() throws {
        let directory = TemporaryDirectory()
        let harness = try Self.compactedLog(directory)
        let transactional = Self.transactional
        try harness.append(LogCleanerTests.batch([("k", "plain")], timestamp: 1_000))        // 0
        try harness.append(transactional(1, 0, [("k", "aborted"), ("j", "aborted")]))       // 1–2
        try T.marker(harness, .abort, producer: 1)                                          // 3
        try harness.append(transactional(2, 0, [("m", "committed")]))                       // 4
        try T.marker(harness, .commit, producer: 2)                                         // 5
        try harness.append(transactional(2, 1, [("m", "newer")]))                           // 6: producer 2's last batch
        try T.marker(harness, .commit, producer: 2)                                         // 7
        try harness.append(transactional(1, 2, [("n", "later")]))                           // 8: producer 1's last batch
        try T.marker(harness, .commit, producer: 1)                                         // 9
        try harness.append(LogCleanerTests.batch([("tail", "x")], timestamp: 1_000))         // 10: active
        let retention: Int64 = 1_000_000
        func clean(at now: Int64) throws -> CleaningOutcome {
            let plan = try #require(harness.onOwner {
                $0.cleaningPlan(firstDirtyOffset: 0, nowMs: now, deleteRetentionMs: retention, minCompactionLagMs: 0)
            })
            let outcome = try #require(try SegmentCleaner.clean(plan, mapBytes: 1 << 20))
            #expect(try harness.onOwner { try $0.swapIn(outcome) })
            return outcome
        }
        func markers() throws -> [Int64] {
            var found: [Int64] = []
            var offset: Int64 = 0
            while offset < 11, let batches = Optional(try harness.read(from: offset, maxBytes: 1 << 20)), let last = batches.last {
                found += batches.filter { $0.header.attributes.isControl }.map(\.header.baseOffset)
                offset = last.header.lastOffset + 1
            }
            return found
        }
        let now = harness.nowMs
        _ = try clean(at: now)
        #expect(try markers() == [3, 5, 7, 9], "the first pass removes the transactions' data; their markers stay")
        let second = try clean(at: now)
        #expect(try markers() == [3, 5, 7, 9], "the next stamps the emptied ones with a horizon")
        #expect(second.earliestDeleteHorizonMs == now + retention)
        _ = try clean(at: now + retention - 1)
        #expect(try markers() == [3, 5, 7, 9], "not before the horizon")
        _ = try clean(at: now + retention)
        #expect(try markers() == [7, 9], "gone once it passed; the producers' last transactions keep theirs")
        #expect(Self.all(harness).isEmpty, "the dropped ABORT marker's index entry went with it")
        try harness.reopen(clean: true)
        #expect(Self.all(harness).isEmpty)
        #expect(try markers() == [7, 9])
    }

    /// A compacted log whose every batch rolls a segment, so each is cleanable.
    static func compactedLog(_ directory: TemporaryDirectory) throws -> LogHarness {
        var config = LogConfig()
        config.segmentBytes = 1
        config.compactionEnabled = true
        return try LogHarness(directory: directory.path, config: config)
    }

    static func transactional(_ producer: Int64, _ sequence: Int32, _ records: [(String, String)]) -> ByteBuffer {
        var builder = RecordBatchBuilder(producerId: producer, producerEpoch: 0, baseSequence: sequence, isTransactional: true)
        for (key, value) in records { builder.append(key: ByteBuffer(string: key), value: ByteBuffer(string: value), timestamp: 1_000) }
        return try! builder.build()
    }
}
