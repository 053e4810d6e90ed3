import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

/// The partition's side of transactions, as Kafka's ProducerStateManager keeps it: a
/// transactional batch opens its producer's transaction, a marker ends it, and the last stable
/// offset (where read_committed stops) stays at the earliest undecided transaction until its
/// marker is below the high watermark. Each refusal has Kafka's error.
@Suite("Transaction state on the partition")
struct TransactionStateTests {
    static let producer: Int64 = 4_000

    static func batch(producer: Int64 = producer, epoch: Int16 = 0, sequence: Int32, count: Int = 2, transactional: Bool = true,
                      tag: String) -> ByteBuffer {
        var builder = RecordBatchBuilder(producerId: producer, producerEpoch: epoch, baseSequence: sequence, isTransactional: transactional)
        for index in 0..<count { builder.append(key: nil, value: ByteBuffer(string: "\(tag)-\(index)"), timestamp: 1_000) }
        return try! builder.build()
    }

    static func plain(_ tag: String) -> ByteBuffer {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: ByteBuffer(string: tag), timestamp: 1_000)
        return try! builder.build()
    }

    static func marker(_ harness: LogHarness, _ kind: EndTransactionMarker.Kind, producer: Int64 = producer, epoch: Int16 = 0,
                       coordinatorEpoch: Int32 = 0) throws -> LogAppendInfo {
        let box = ResultBox<Result<LogAppendInfo, StorageError>>()
        try harness.onOwner { log in
            try log.appendTransactionMarker(EndTransactionMarker(kind: kind, coordinatorEpoch: coordinatorEpoch), producerId: producer,
                                            producerEpoch: epoch, nowMs: harness.nowMs) { result in
                box.value = result
                box.done.signal()
            }
        }
        box.done.wait()
        return try box.value!.get()
    }

    static func lastStableOffset(_ harness: LogHarness) -> Int64 { harness.onOwner { $0.lastStableOffset } }

    @Test func aTransactionHoldsTheLastStableOffsetUntilItsMarkerIsReplicated() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        harness.onOwner { $0.highWatermarkFollowsReplicas = true }
        try harness.append(Self.plain("a"))
        try harness.append(Self.plain("b"))
        harness.onOwner { $0.advanceHighWatermark(to: 2) }
        #expect(Self.lastStableOffset(harness) == 2, "no transaction: the last stable offset is the high watermark")
        let first = try harness.append(Self.batch(sequence: 0, tag: "t1"))
        try harness.append(Self.batch(sequence: 2, tag: "t1"))
        harness.onOwner { $0.advanceHighWatermark(to: 6) }
        #expect(first.firstOffset == 2)
        #expect(Self.lastStableOffset(harness) == 2, "the open transaction began at 2")
        #expect(harness.onOwner { $0.producerState.producer(Self.producer)?.currentTxnFirstOffset } == 2)
        let commit = try Self.marker(harness, .commit)
        #expect(commit.firstOffset == 6)
        #expect(harness.onOwner { $0.producerState.producer(Self.producer)?.currentTxnFirstOffset } == nil)
        #expect(Self.lastStableOffset(harness) == 2, "ended, but its marker is not replicated yet")
        harness.onOwner { $0.advanceHighWatermark(to: 7) }
        #expect(Self.lastStableOffset(harness) == 7, "the marker is below the high watermark: decided")
        // The marker batch is what Kafka writes: control and transactional, no sequence.
        let read = try harness.read(from: 6, maxBytes: 1)
        let markerBatch = try #require(read.first)
        #expect(markerBatch.header.attributes.isControl && markerBatch.header.attributes.isTransactional)
        #expect(markerBatch.header.baseSequence == -1 && markerBatch.header.producerId == Self.producer)
        #expect(try EndTransactionMarker(controlBatch: markerBatch) == EndTransactionMarker(kind: .commit, coordinatorEpoch: 0))
    }

    @Test func theEarliestOfSeveralOpenTransactionsBoundsTheLastStableOffset() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try harness.append(Self.batch(producer: 1, sequence: 0, tag: "p1"))   // 0–1
        try harness.append(Self.batch(producer: 2, sequence: 0, tag: "p2"))   // 2–3
        #expect(Self.lastStableOffset(harness) == 0)
        let abort = try Self.marker(harness, .abort, producer: 1)             // 4
        #expect(abort.firstOffset == 4)
        #expect(Self.lastStableOffset(harness) == 2, "producer 2's transaction is still open")
        try Self.marker(harness, .commit, producer: 2)                         // 5
        #expect(Self.lastStableOffset(harness) == 6)
        // A marker with no transaction open is written and ends nothing.
        let empty = try Self.marker(harness, .commit, producer: 3)
        #expect(empty.firstOffset == 6 && Self.lastStableOffset(harness) == 7)
    }

    @Test func refusalsCarryKafkasErrors() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try harness.append(Self.batch(epoch: 3, sequence: 0, tag: "t"))
        // A plain write while the transaction is open: INVALID_TXN_STATE.
        #expect(throws: StorageError.invalidTxnState(producerId: Self.producer)) {
            try harness.append(Self.batch(epoch: 3, sequence: 2, transactional: false, tag: "plain"))
        }
        // A retry of the transactional batch is still a duplicate, answered with its offsets.
        #expect(try harness.append(Self.batch(epoch: 3, sequence: 0, tag: "t")).firstOffset == 0)
        // A marker from an older producer epoch: INVALID_PRODUCER_EPOCH.
        #expect(throws: StorageError.invalidProducerEpoch(producerId: Self.producer, current: 3, received: 2)) {
            try Self.marker(harness, .commit, epoch: 2, coordinatorEpoch: 5)
        }
        try Self.marker(harness, .abort, epoch: 3, coordinatorEpoch: 5)
        // A marker from an older coordinator: TRANSACTION_COORDINATOR_FENCED.
        #expect(throws: StorageError.transactionCoordinatorFenced(producerId: Self.producer, current: 5, received: 4)) {
            try Self.marker(harness, .commit, epoch: 3, coordinatorEpoch: 4)
        }
        // A newer producer epoch (the coordinator bumped it) is taken, and forgets the old batches.
        try Self.marker(harness, .abort, epoch: 4, coordinatorEpoch: 5)
        #expect(harness.onOwner { $0.producerState.producer(Self.producer).map { ($0.epoch, $0.batches.count, $0.coordinatorEpoch) } }
            .map { $0 == (4, 0, 5) } == true)
        #expect(harness.onOwner { $0.logEndOffset } == 4, "refused appends wrote nothing")
    }

    @Test(arguments: [true, false])
    func anOpenTransactionSurvivesARestart(clean: Bool) throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try harness.append(Self.plain("a"))
        try harness.append(Self.batch(producer: 1, sequence: 0, tag: "p1"))  // 1–2, open
        try harness.append(Self.batch(producer: 2, sequence: 0, tag: "p2"))  // 3–4
        try Self.marker(harness, .abort, producer: 2, coordinatorEpoch: 7)   // 5
        try harness.reopen(clean: clean)
        #expect(Self.lastStableOffset(harness) == 1, "producer 1's transaction is open again after the restart")
        #expect(harness.onOwner { $0.producerState.producer(2)?.coordinatorEpoch } == 7)
        #expect(throws: StorageError.transactionCoordinatorFenced(producerId: 2, current: 7, received: 6)) {
            try Self.marker(harness, .commit, producer: 2, coordinatorEpoch: 6)
        }
        try Self.marker(harness, .commit, producer: 1)
        #expect(Self.lastStableOffset(harness) == harness.onOwner { $0.logEndOffset })
    }

    @Test func aFollowerKeepsTheSameStateFromTheLeadersBatches() throws {
        let leaderDirectory = TemporaryDirectory()
        let leader = try LogHarness(directory: leaderDirectory.path)
        try leader.append(Self.batch(sequence: 0, tag: "t"))
        try Self.marker(leader, .commit)
        try leader.append(Self.batch(sequence: 2, tag: "u"))
        let slices = try leader.onOwner { try $0.read(from: 0, maxBytes: 1 << 20) }.slices
        let copied = ByteBuffer(bytes: try slices.flatMap { try $0.readBytes() })
        let followerDirectory = TemporaryDirectory()
        let follower = try LogHarness(directory: followerDirectory.path)
        let box = ResultBox<Result<Int64, StorageError>>()
        _ = try follower.onOwner { log in
            log.highWatermarkFollowsReplicas = true
            return try log.appendAsFollower(copied, nowMs: follower.nowMs) { result in
                box.value = result
                box.done.signal()
            }
        }
        box.done.wait()
        #expect(try box.value!.get() == 5)
        follower.onOwner { $0.advanceHighWatermark(to: 5) }
        #expect(Self.lastStableOffset(follower) == 3, "the second transaction, from offset 3, is open on the follower too")
        #expect(follower.onOwner { $0.producerState.producer(Self.producer)?.currentTxnFirstOffset } == 3)
    }

    @Test func snapshotsOfTheFirstLayoutStillLoad() throws {
        // The layout before transactions: offset, count, then id, epoch, time, batches.
        var bytes: [UInt8] = []
        bytes.appendBigEndian(UInt64(10))
        bytes.appendBigEndian(UInt32(1))
        bytes.appendBigEndian(UInt64(77))
        bytes.appendBigEndian(UInt16(2))
        bytes.appendBigEndian(UInt64(1_000))
        bytes.appendBigEndian(UInt8(1))
        for value: UInt32 in [0, 4] { bytes.appendBigEndian(value) }
        for value: UInt64 in [5, 9] { bytes.appendBigEndian(value) }
        let (table, validUpTo) = try #require(ProducerStateTable.parse(bytes))
        #expect(validUpTo == 10)
        #expect(table.producer(77) == .init(epoch: 2, batches: [.init(firstSequence: 0, lastSequence: 4, firstOffset: 5, lastOffset: 9)],
                                            lastTimestamp: 1_000))
        // And the current layout round-trips the transaction fields.
        var current = table
        var header = try RecordBatchHeader(peekingAt: Self.batch(producer: 78, epoch: 1, sequence: 0, tag: "x"))
        header.baseOffset = 12
        current.record(header, firstOffset: 12, timestamp: 2_000)
        current.recordMarker(EndTransactionMarker(kind: .abort, coordinatorEpoch: 9), producerId: 77, producerEpoch: 2, offset: 14,
                             timestamp: 2_000)
        let (reloaded, end) = try #require(ProducerStateTable.parse(current.serialized(validUpTo: 15)))
        #expect(end == 15 && reloaded == current)
        #expect(reloaded.producer(78)?.currentTxnFirstOffset == 12 && reloaded.producer(77)?.coordinatorEpoch == 9)
    }

    @Test func producersWithAnOpenTransactionDoNotExpire() throws {
        var table = ProducerStateTable()
        var open = try RecordBatchHeader(peekingAt: Self.batch(producer: 1, sequence: 0, tag: "o"))
        open.baseOffset = 0
        table.record(open, firstOffset: 0, timestamp: 100)
        var idle = try RecordBatchHeader(peekingAt: Self.batch(producer: 2, sequence: 0, transactional: false, tag: "i"))
        idle.baseOffset = 2
        table.record(idle, firstOffset: 2, timestamp: 100)
        table.expire(olderThan: 1_000)
        #expect(table.producer(1) != nil && table.producer(2) == nil)
    }
}
