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
}
