import Glibc
import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

/// A follower stores the leader's batches unchanged, rebuilds the epoch cache and producer
/// state from them, refuses what does not continue its log, and serves followers to its stable
/// end but consumers only to the high watermark the replicas allow.
@Suite("Follower append")
struct FollowerAppendTests {
    func producerBatch(sequence: Int32, tag: Int) -> ByteBuffer {
        var builder = RecordBatchBuilder(producerId: 42, producerEpoch: 0, baseSequence: sequence)
        for index in 0..<3 { builder.append(key: nil, value: ByteBuffer(string: "p\(tag)-\(index)"), timestamp: Int64(tag)) }
        return try! builder.build()
    }

    /// Everything the leader's log holds from `offset`, as a follower's fetch would carry it.
    func fetched(_ leader: LogHarness, from offset: Int64) throws -> ByteBuffer {
        let result = try leader.onOwner { try $0.read(from: offset, maxBytes: 1 << 20, limit: .stableEnd) }
        var buffer = ByteBuffer()
        for slice in result.slices { buffer.writeBytes(try slice.readBytes()) }
        return buffer
    }

    func appendAsFollower(_ follower: LogHarness, _ records: ByteBuffer) throws -> Int64 {
        let box = ResultBox<Result<Int64, StorageError>>()
        try follower.onOwner { log in
            _ = try log.appendAsFollower(records, nowMs: follower.nowMs) { result in
                box.value = result
                box.done.signal()
            }
        }
        box.done.wait()
        return try box.value!.get()
    }

    func segmentBytes(_ harness: LogHarness) -> [UInt8] {
        harness.onOwner { log in log.segmentBaseOffsets }.flatMap { base in
            readWholeFile(path: harness.directory + "/" + LogSegment.fileName(baseOffset: base, suffix: ".log")) ?? []
        }
    }

    @Test func theFollowersSegmentsAreTheLeadersByteForByte() throws {
        let leaderDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        let leader = try LogHarness(directory: leaderDirectory.path)
        let follower = try LogHarness(directory: followerDirectory.path)
        try leader.onOwner { try $0.becomeLeader(epoch: 3) }
        for tag in 0..<4 { try leader.append(makeBatch(tag: tag, count: 5, timestamp: 1_000)) }
        try leader.onOwner { try $0.becomeLeader(epoch: 5) }
        try leader.append(producerBatch(sequence: 0, tag: 9))
        #expect(try appendAsFollower(follower, try fetched(leader, from: 0)) == 23)
        #expect(segmentBytes(follower) == segmentBytes(leader))
        #expect(follower.onOwner { $0.epochs } == leader.onOwner { $0.epochs })
        #expect(follower.onOwner { $0.leaderEpoch } == 5)
        // The producer's state came along: as the next leader it answers a retry with the
        // original offsets instead of writing it twice.
        try follower.onOwner { try $0.becomeLeader(epoch: 6) }
        let retry = try follower.append(producerBatch(sequence: 0, tag: 9))
        #expect(retry.firstOffset == 20 && follower.onOwner { $0.logEndOffset } == 23)
        // A restart after a crash trusts the epochs the cache names (recovery refuses later ones).
        try follower.reopen(clean: false)
        #expect(follower.onOwner { $0.logEndOffset } == 23)
    }

    @Test func whatDoesNotContinueTheLogIsRefusedAndACutShortBatchWaits() throws {
        let leaderDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        let leader = try LogHarness(directory: leaderDirectory.path)
        let follower = try LogHarness(directory: followerDirectory.path)
        for tag in 0..<3 { try leader.append(makeBatch(tag: tag, count: 2, timestamp: 1_000)) }
        let all = try fetched(leader, from: 0)
        // A flipped byte under the CRC.
        var damaged = all
        let last = damaged.readerIndex + damaged.readableBytes - 1
        damaged.setInteger(damaged.getInteger(at: last, as: UInt8.self)! ^ 0xFF, at: last)
        #expect(throws: StorageError.self) { try appendAsFollower(follower, damaged) }
        #expect(follower.onOwner { $0.logEndOffset } == 0)
        // The last batch cut short (a fetch's byte limit): the whole ones are stored.
        let cut = all.getSlice(at: all.readerIndex, length: all.readableBytes - 7)!
        #expect(try appendAsFollower(follower, cut) == 4)
        // Batches the log already has (an overlap) are refused.
        #expect(throws: StorageError.self) { try appendAsFollower(follower, try fetched(leader, from: 2)) }
        #expect(try appendAsFollower(follower, try fetched(leader, from: 4)) == 6)
    }

    /// A new replica of a compacted partition copies the leader's cleaned log: batches after a
    /// gap are taken, the records read back are the leader's, and the follower's recovery after
    /// a crash (checking from its first segment) accepts the gaps it copied.
    @Test func aFollowerCopiesACleanedLeaderWithItsGaps() throws {
        let leaderDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        let leader = try LogCleanerTests.harnessWithOneBatchPerSegment(leaderDirectory)
        let follower = try LogHarness(directory: followerDirectory.path, backend: .pwrite)
        for round in 0..<4 {
            try leader.append(LogCleanerTests.batch([("k", "\(round)")], timestamp: Int64(round)))
            try leader.append(LogCleanerTests.batch([("other-\(round)", "x")], timestamp: Int64(round)))
        }
        _ = try #require(try LogCleanerTests.clean(leader, firstDirty: 0, mapBytes: 1 << 20))
        #expect(try LogCleanerTests.readAll(leader).map(\.offset) == [1, 3, 5, 6, 7])
        var end: Int64 = 0
        while end < 8 { end = try appendAsFollower(follower, try fetched(leader, from: end)) }
        #expect(try LogCleanerTests.readAll(follower) == LogCleanerTests.readAll(leader))
        unlink(followerDirectory.path + "/" + LogLoader.recoveryPointFile)
        try follower.reopen(clean: false)
        #expect(try LogCleanerTests.readAll(follower) == LogCleanerTests.readAll(leader))
        #expect(follower.onOwner { $0.logEndOffset } == 8)
    }

    @Test func consumersReadToTheHighWatermarkTheReplicasAllowFollowersToTheStableEnd() throws {
        let directory = TemporaryDirectory()
        let leader = try LogHarness(directory: directory.path)
        leader.onOwner { $0.highWatermarkFollowsReplicas = true }
        for tag in 0..<3 { try leader.append(makeBatch(tag: tag, count: 2, timestamp: 1_000)) }
        #expect(leader.onOwner { ($0.highWatermark, $0.stableEnd) } == (0, 6))
        #expect(try leader.read(from: 0).isEmpty)
        #expect(try fetched(leader, from: 0).readableBytes > 0)
        leader.onOwner { $0.advanceHighWatermark(to: 4) }
        #expect(try leader.read(from: 0).map(\.header.baseOffset) == [0, 2])
        // Inside a batch: it stops at that batch's start; never past the stable end.
        leader.onOwner { $0.advanceHighWatermark(to: 5) }
        #expect(leader.onOwner { $0.highWatermark } == 4)
        leader.onOwner { $0.advanceHighWatermark(to: 99) }
        #expect(leader.onOwner { $0.highWatermark } == 6)
        #expect(try leader.read(from: 0).count == 3)
        // Without other replicas it follows the stable end again.
        leader.onOwner { $0.highWatermarkFollowsReplicas = false }
        try leader.append(makeBatch(tag: 4, count: 2, timestamp: 1_000))
        #expect(leader.onOwner { $0.highWatermark } == 8)
    }
}
