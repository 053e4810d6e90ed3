import Dispatch
import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage
import Synchronization
import Testing

@testable import SluiceCore

/// A leader's side of replication on a real log: acks=all answers by the high watermark the
/// followers' fetches move, Kafka's errors when that does not happen, and the ISR changes the
/// leader asks the controller for.
final class WaitBox<T>: @unchecked Sendable {
    var value: T?
    let done = DispatchSemaphore(value: 0)
}

@Suite("Partition replication")
struct PartitionReplicationTests {
    final class Harness: @unchecked Sendable {
        let owner = SerialQueueOwner()
        let directory = "/tmp/sluice-replication-\(UInt32.random(in: 0...UInt32.max))"
        final class Shared: @unchecked Sendable {
            let now = Atomic<Int64>(1_000)
            let proposals = Mutex<[IsrProposal]>([])
        }
        let shared = Shared()
        func setNow(_ ms: Int64) { shared.now.store(ms, ordering: .relaxed) }
        var proposed: [IsrProposal] { shared.proposals.withLock { $0 } }
        let writer = makeLogWriter(backend: .pwrite).writer
        var partition: Partition!

        init(isr: [Int32] = [1, 2, 3], minInsync: Int = 2) throws {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let log = try owner.run {
                try PartitionLog(directory: directory, config: LogConfig(), writer: writer, owner: owner,
                                 files: FileHandleCache(capacity: 8), cleanShutdown: true, nowMs: 0, logger: logger)
            }
            let shared = self.shared
            let environment = ReplicationEnvironment(clock: { shared.now.load(ordering: .relaxed) }, maxLagMs: 5_000) { _, proposal in
                shared.proposals.withLock { $0.append(proposal) }
            }
            partition = Partition(topic: "t", topicId: .zero, index: 0, owner: owner, localBroker: 1, log: log,
                                  state: PartitionState(leader: 1, leaderEpoch: 1, partitionEpoch: 1, replicas: [1, 2, 3], isr: isr),
                                  replication: environment)
            partition.minInsyncReplicas = minInsync
            log.onHighWatermarkChange = { [partition] _ in partition!.highWatermarkMoved() }
            log.onStableEndChange = { [partition] _ in partition!.stableEndMoved() }
            owner.run {}  // the role change queued by init
        }

        deinit {
            writer.shutdown()
            removeDirectoryTree(directory)
        }

        /// Appends a batch of two records as acks=all does and returns the future answer.
        func produce(timeoutMs: Int64 = 60_000, minInsync: Int? = nil) throws -> WaitBox<KafkaErrorCode> {
            let box = WaitBox<KafkaErrorCode>()
            let appended = WaitBox<Int64>()
            try owner.run {
                let log = try partition.logForAppend(acks: -1, minInsyncReplicas: partition.minInsyncReplicas).get()
                try log.append(Self.batch(), nowMs: 0) { [self] result in
                    let end = (try? result.get().lastOffset).map { $0 + 1 } ?? -1
                    appended.value = end
                    appended.done.signal()
                    partition.awaitReplication(through: end, minInsync: minInsync ?? partition.minInsyncReplicas,
                                               timeoutMs: timeoutMs) { code in
                        box.value = code
                        box.done.signal()
                    }
                }
            }
            appended.done.wait()
            return box
        }

        static func batch() -> ByteBuffer {
            var builder = RecordBatchBuilder()
            builder.append(key: nil, value: ByteBuffer(string: "a"), timestamp: 0)
            builder.append(key: nil, value: ByteBuffer(string: "b"), timestamp: 0)
            return try! builder.build()
        }

        func fetch(_ replica: Int32, _ offset: Int64, brokerEpoch: Int64 = -1) -> Bool {
            owner.run { partition.followerFetched(replica, brokerEpoch: brokerEpoch, offset: offset) }
        }
        var highWatermark: Int64 { owner.run { partition.log!.highWatermark } }
        func answered(_ box: WaitBox<KafkaErrorCode>) -> KafkaErrorCode? {
            box.done.wait(timeout: .now() + 5) == .success ? box.value : nil
        }
    }

    @Test func acksAllIsAnsweredWhenEveryInSyncReplicaFetchedPastTheRecords() throws {
        let harness = try Harness()
        let answer = try harness.produce()
        #expect(harness.highWatermark == 0)
        #expect(harness.fetch(2, 2))
        #expect(answer.done.wait(timeout: .now() + .milliseconds(200)) == .timedOut, "3 has not fetched")
        #expect(harness.fetch(3, 2))
        #expect(harness.answered(answer) == KafkaErrorCode.none)
        #expect(harness.highWatermark == 2)
        #expect(!harness.fetch(7, 2), "not a replica: NOT_LEADER_OR_FOLLOWER")
    }

    @Test func acksAllTimesOutWhenTheHighWatermarkDoesNotGetThere() throws {
        let harness = try Harness()
        let answer = try harness.produce(timeoutMs: 100)
        #expect(harness.answered(answer) == .requestTimedOut)
    }

    @Test func belowMinInsyncTheHighWatermarkFreezesAndALoweredSettingAnswersAfterAppend() throws {
        let harness = try Harness(minInsync: 2)
        let answer = try harness.produce(minInsync: 2)
        harness.fetch(2, 2)
        // Both followers leave the ISR: one replica, below min.insync.replicas — frozen.
        harness.partition.update(PartitionState(leader: 1, leaderEpoch: 1, partitionEpoch: 2, replicas: [1, 2, 3], isr: [1]))
        harness.owner.run {}
        #expect(answer.done.wait(timeout: .now() + .milliseconds(200)) == .timedOut)
        #expect(harness.highWatermark == 0)
        // The topic's min.insync.replicas lowered to 1 meanwhile: the records become visible, but
        // the produce that asked for two copies learns they are on fewer (Kafka's
        // NOT_ENOUGH_REPLICAS_AFTER_APPEND).
        harness.partition.minInsyncReplicas = 1
        harness.owner.run { harness.partition.stableEndMoved() }
        #expect(harness.answered(answer) == .notEnoughReplicasAfterAppend)
        #expect(harness.highWatermark == 2)
    }

    @Test func losingLeadershipAnswersWaitingProducesNotLeaderOrFollower() throws {
        let harness = try Harness()
        let answer = try harness.produce()
        harness.partition.update(PartitionState(leader: 2, leaderEpoch: 2, partitionEpoch: 2, replicas: [1, 2, 3], isr: [1, 2, 3]))
        #expect(harness.answered(answer) == .notLeaderOrFollower)
    }

    @Test func aLaggingFollowerIsProposedOutAndACaughtUpOneIn() throws {
        let harness = try Harness()
        harness.setNow(3_000)
        harness.fetch(2, 0)
        harness.fetch(3, 0)
        harness.setNow(7_000)
        harness.fetch(2, 0)
        harness.owner.run { harness.partition.shrinkIsrIfLagging() }
        #expect(harness.proposed.isEmpty, "both caught up within 5 s")
        _ = try harness.produce()
        harness.fetch(2, 2)
        harness.setNow(8_500)
        harness.owner.run { harness.partition.shrinkIsrIfLagging() }
        let shrink = try #require(harness.proposed.last)
        #expect(shrink.newIsr == [1, 2] && shrink.leaderEpoch == 1 && shrink.partitionEpoch == 1)
        // One change at a time; the controller's answer applies it.
        harness.owner.run {
            harness.partition.isrChangeAnswered(shrink, result: .success(
                PartitionState(leader: 1, leaderEpoch: 1, partitionEpoch: 2, replicas: [1, 2, 3], isr: [1, 2])))
        }
        harness.owner.run {}
        #expect(harness.partition.state.isr == [1, 2])
        #expect(harness.highWatermark == 2, "3 no longer holds it back")
        // 3 comes back and fetches up to the high watermark: proposed back in, with the broker
        // epochs its followers fetched under for the controller to check (KIP-903).
        harness.fetch(2, 2, brokerEpoch: 40)
        harness.fetch(3, 2, brokerEpoch: 57)
        let expand = try #require(harness.proposed.last)
        #expect(expand.newIsr == [1, 2, 3] && expand.partitionEpoch == 2)
        #expect(expand.brokerEpochs == [2: 40, 3: 57])
    }
}
