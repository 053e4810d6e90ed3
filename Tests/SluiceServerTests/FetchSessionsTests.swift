import KafkaProtocol
import SluiceCore
import Testing
@testable import SluiceServer

@Suite("Fetch sessions (KIP-227)")
struct FetchSessionsTests {
    func request(id: Int32, epoch: Int32, partitions: [(Int32, Int64)], forget: [Int32] = []) -> FetchRequest {
        FetchRequest(
            sessionId: id, sessionEpoch: epoch,
            topics: partitions.isEmpty ? [] : [.init(topic: "t", partitions: partitions.map { .init(partition: $0.0, fetchOffset: $0.1, partitionMaxBytes: 1000) })],
            forgottenTopicsData: forget.isEmpty ? [] : [.init(topic: "t", partitions: forget)])
    }

    func read(_ partition: Int32, highWatermark: Int64 = 10) -> FetchHandler.PartitionRead {
        var read = FetchHandler.PartitionRead(topic: "t", topicId: .zero, index: partition)
        read.highWatermark = highWatermark
        read.logStartOffset = 0
        return read
    }

    @Test func aSessionRemembersPartitionsAndAnswersOnlyWhatChanged() throws {
        let sessions = FetchSessions()
        // Epoch 0 opens a session with three partitions.
        let first = try sessions.plan(for: request(id: 0, epoch: 0, partitions: [(0, 5), (1, 7), (2, 9)]), version: 12, nowMs: 0).get()
        #expect(first.sessionId != 0)
        #expect(!first.incremental)
        let sent = sessions.filter([read(0), read(1), read(2)], keys: first.wanted.map(\.0), plan: first)
        #expect(sent.count == 3)

        // Epoch 1 lists only partition 1 with a new offset; the plan still reads all three.
        let second = try sessions.plan(for: request(id: first.sessionId, epoch: 1, partitions: [(1, 8)]), version: 12, nowMs: 1).get()
        #expect(second.incremental)
        #expect(second.wanted.map(\.0.partition) == [0, 1, 2])
        #expect(second.wanted.first { $0.0.partition == 1 }?.1.fetchOffset == 8)
        #expect(second.wanted.first { $0.0.partition == 0 }?.1.fetchOffset == 5)
        // Only partition 2's high watermark moved: only it is answered.
        let answer = sessions.filter([read(0), read(1), read(2, highWatermark: 11)], keys: second.wanted.map(\.0), plan: second)
        #expect(answer.map(\.index) == [2])

        // Forgetting partition 0 drops it from later reads.
        let third = try sessions.plan(for: request(id: first.sessionId, epoch: 2, partitions: [], forget: [0]), version: 12, nowMs: 2).get()
        #expect(third.wanted.map(\.0.partition) == [1, 2])
    }

    @Test func wrongIdsAndEpochsGetKafkasErrors() throws {
        let sessions = FetchSessions()
        let opened = try sessions.plan(for: request(id: 0, epoch: 0, partitions: [(0, 0)]), version: 12, nowMs: 0).get()
        #expect(throws: KafkaErrorCode.invalidFetchSessionEpoch) {
            _ = try sessions.plan(for: request(id: opened.sessionId, epoch: 5, partitions: []), version: 12, nowMs: 1).get()
        }
        #expect(throws: KafkaErrorCode.fetchSessionIdNotFound) {
            _ = try sessions.plan(for: request(id: 424242, epoch: 1, partitions: []), version: 12, nowMs: 1).get()
        }
        // Epoch -1 closes the session and fetches without one.
        let closed = try sessions.plan(for: request(id: opened.sessionId, epoch: -1, partitions: [(0, 0)]), version: 12, nowMs: 2).get()
        #expect(closed.sessionId == 0)
        #expect(throws: KafkaErrorCode.fetchSessionIdNotFound) {
            _ = try sessions.plan(for: request(id: opened.sessionId, epoch: 1, partitions: []), version: 12, nowMs: 3).get()
        }
        // Before v7 there are no sessions at all.
        #expect(try sessions.plan(for: request(id: 0, epoch: 0, partitions: [(0, 0)]), version: 6, nowMs: 4).get().sessionId == 0)
    }
}
