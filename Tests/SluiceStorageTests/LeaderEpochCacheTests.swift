import Glibc
import Testing
@testable import SluiceStorage

/// The leader-epoch cache against the cases of Kafka's LeaderEpochFileCacheTest, and in a log:
/// stamped appends, truncation from both ends, the checkpoint across restarts and its rebuild.
@Suite("Leader epoch cache")
struct LeaderEpochCacheTests {
    func cache(_ pairs: [(Int32, Int64)]) -> LeaderEpochCache {
        var cache = LeaderEpochCache()
        for (epoch, start) in pairs { cache.assign(epoch: epoch, startOffset: start) }
        return cache
    }

    @Test func endOffsetsFollowKafkasRules() {
        let epochs = cache([(1, 0), (3, 10), (5, 20)])
        #expect(epochs.endOffset(for: 5, logEndOffset: 30) == (5, 30), "the latest epoch ends at the log end")
        #expect(epochs.endOffset(for: 3, logEndOffset: 30) == (3, 20), "an earlier epoch ends where the next began")
        #expect(epochs.endOffset(for: 4, logEndOffset: 30) == (3, 20), "a missing epoch: the floor below it, ending at the next start")
        #expect(epochs.endOffset(for: 0, logEndOffset: 30) == (0, 0), "below every epoch: the epoch asked, ending at the first start")
        #expect(epochs.endOffset(for: 6, logEndOffset: 30) == (-1, -1), "later than any known epoch")
        #expect(epochs.endOffset(for: -1, logEndOffset: 30) == (-1, -1))
        #expect(LeaderEpochCache().endOffset(for: 0, logEndOffset: 0) == (-1, -1))
        #expect(epochs.epoch(forOffset: 15) == 3 && epochs.epoch(forOffset: 0) == 1)
    }

    @Test func assignReplacesWhatConflicts() {
        var epochs = cache([(1, 0), (2, 10)])
        let unchanged = epochs.assign(epoch: 2, startOffset: 15)
        #expect(!unchanged, "the latest epoch again, later: nothing changes")
        let earlier = epochs.assign(epoch: 2, startOffset: 5)
        #expect(earlier, "the latest epoch moving earlier replaces it")
        #expect(epochs.entries.map(\.startOffset) == [0, 5])
        let replaced = epochs.assign(epoch: 4, startOffset: 5)
        #expect(replaced, "a new epoch at the same start replaces the empty one")
        #expect(epochs.entries.map(\.epoch) == [1, 4])
        epochs.assign(epoch: 3, startOffset: 20)
        #expect(epochs.entries.map(\.epoch) == [1, 3], "a lower epoch truncates the later ones, as Kafka's assign does")
    }

    @Test func truncationFromBothEnds() {
        var epochs = cache([(1, 0), (2, 10), (3, 20)])
        epochs.truncate(fromEnd: 15)
        #expect(epochs.entries.map(\.epoch) == [1, 2])
        epochs.truncate(fromStart: 12)
        #expect(epochs.entries == [.init(epoch: 2, startOffset: 12)])
        #expect(LeaderEpochCache.parse(epochs.serialized()) == epochs)
        #expect(LeaderEpochCache.parse(Array("1\n1\n2 12\n".utf8)) == nil, "another format version is not read")
    }

    @Test func aLogKeepsItsEpochsAcrossRestartsAndRebuildsAMissingCheckpoint() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        for tag in 0..<3 { try harness.append(makeBatch(tag: tag, count: 2, timestamp: Int64(tag))) }
        try harness.onOwner { try $0.becomeLeader(epoch: 4) }
        for tag in 3..<5 { try harness.append(makeBatch(tag: tag, count: 2, timestamp: Int64(tag))) }
        #expect(try harness.read(from: 6).first?.header.partitionLeaderEpoch == 4, "appends carry the new epoch")
        #expect(harness.onOwner { $0.epochs.entries } == [.init(epoch: 0, startOffset: 0), .init(epoch: 4, startOffset: 6)])
        #expect(harness.onOwner { $0.epochs.endOffset(for: 0, logEndOffset: $0.logEndOffset) } == (0, 6))

        try harness.onOwner { _ = try $0.deleteRecords(before: 2) }
        try harness.reopen(clean: true)
        // Reopened at epoch 0 (the harness's), the checkpoint still says what was written.
        #expect(harness.onOwner { $0.epochs.entries } == [.init(epoch: 0, startOffset: 2), .init(epoch: 4, startOffset: 6)])
        unlink(directory.path + "/" + LeaderEpochCache.fileName)
        // (Clean: recovery at the harness's epoch 0 would rightly refuse the epoch-4 batches.)
        try harness.reopen(clean: true)
        #expect(harness.onOwner { $0.epochs.entries } == [.init(epoch: 0, startOffset: 2), .init(epoch: 4, startOffset: 6)],
                "rebuilt from the batches' stamps")
        try harness.onOwner { try $0.truncate(to: 5) }
        #expect(harness.onOwner { $0.epochs.entries } == [.init(epoch: 0, startOffset: 2)], "a truncated epoch is gone")
    }

    @Test func aFollowersFetchIsCheckedAgainstTheEpochs() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        for tag in 0..<3 { try harness.append(makeBatch(tag: tag, count: 2, timestamp: Int64(tag))) }
        try harness.onOwner { try $0.becomeLeader(epoch: 2) }
        for tag in 3..<5 { try harness.append(makeBatch(tag: tag, count: 2, timestamp: Int64(tag))) }
        // Epoch 0 ended at 6 here: a follower at 8 that last fetched epoch 0 diverged.
        #expect(try harness.onOwner { try $0.divergence(lastFetchedEpoch: 0, fetchOffset: 8) }.map { [$0.epoch: $0.endOffset] } == [0: 6])
        #expect(try harness.onOwner { try $0.divergence(lastFetchedEpoch: 0, fetchOffset: 6) } == nil)
        #expect(try harness.onOwner { try $0.divergence(lastFetchedEpoch: 2, fetchOffset: 10) } == nil)
        // An epoch the leader never had (1): the largest below it ends at 6.
        #expect(try harness.onOwner { try $0.divergence(lastFetchedEpoch: 1, fetchOffset: 7) }.map { [$0.epoch: $0.endOffset] } == [0: 6])
        #expect(throws: StorageError.self) { try harness.onOwner { try $0.divergence(lastFetchedEpoch: 3, fetchOffset: 10) } }
    }
}
