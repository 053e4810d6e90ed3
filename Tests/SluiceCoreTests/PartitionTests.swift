import KafkaProtocol
import Logging
import SluiceStorage
import Testing

@testable import SluiceCore

/// The partition layer's answers to "may this broker serve this request?", as Kafka's Partition
/// gives them, for every state a partition can be in.
@Suite("Partition layer")
struct PartitionTests {
    let owner = SerialQueueOwner()

    func partition(state: PartitionState? = nil, log: PartitionLog? = nil, offline: String? = nil) -> Partition {
        Partition(topic: "t", topicId: .zero, index: 0, owner: owner, localBroker: 1, log: log, offlineReason: offline, state: state)
    }

    func openLog(_ directory: String) throws -> PartitionLog {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let writer = makeLogWriter(backend: .pwrite).writer
        return try owner.run {
            try PartitionLog(directory: directory, config: LogConfig(), writer: writer, owner: owner,
                             files: FileHandleCache(capacity: 8), cleanShutdown: true, nowMs: 0, logger: logger)
        }
    }

    @Test func theLeaderServesAndCurrentLeaderEpochsAreChecked() throws {
        let directory = "/tmp/sluice-partition-\(UInt32.random(in: 0...UInt32.max))"
        defer { removeDirectoryTree(directory) }
        let log = try openLog(directory)
        let led = partition(state: PartitionState(leader: 1, leaderEpoch: 5, partitionEpoch: 7, replicas: [1, 2, 3], isr: [1, 2]), log: log)
        #expect(try led.leaderLog().get() === log, "-1: no epoch check")
        #expect(try led.leaderLog(currentLeaderEpoch: 5).get() === log)
        #expect(led.leaderLog(currentLeaderEpoch: 4).failure == .fencedLeaderEpoch, "the client's metadata is behind")
        #expect(led.leaderLog(currentLeaderEpoch: 6).failure == .unknownLeaderEpoch, "the client's metadata is ahead")
        // acks=all needs min.insync.replicas in the ISR (two here); acks=1 does not.
        #expect(try led.logForAppend(acks: -1, minInsyncReplicas: 2).get() === log)
        let short = led.logForAppend(acks: -1, minInsyncReplicas: 3)
        #expect(short.failure?.code == .notEnoughReplicas)
        #expect(short.failure?.message == "The size of the current ISR Set(1, 2) is insufficient to satisfy the min.isr requirement of 3 for partition t-0")
        #expect(try led.logForAppend(acks: 1, minInsyncReplicas: 3).get() === log)
    }

    @Test func aFollowerOrAnOfflinePartitionDoesNotServe() {
        let follower = partition(state: PartitionState(leader: 2, leaderEpoch: 3, partitionEpoch: 3, replicas: [1, 2], isr: [1, 2]))
        #expect(follower.leaderLog().failure == .notLeaderOrFollower)
        #expect(follower.leaderLog(currentLeaderEpoch: 3).failure == .notLeaderOrFollower, "epochs are checked before leadership")
        #expect(follower.leaderLog(currentLeaderEpoch: 2).failure == .fencedLeaderEpoch)
        #expect(follower.logForAppend(acks: -1, minInsyncReplicas: 1).failure?.code == .notLeaderOrFollower)
        let offline = partition(offline: "opendir failed")
        #expect(offline.isOffline && offline.isLeader)
        #expect(offline.leaderLog().failure == .kafkaStorageError)
        #expect(offline.logForAppend(acks: 1, minInsyncReplicas: 1).failure?.message == "partition offline: opendir failed")
    }

    @Test func anOlderPartitionEpochDoesNotReplaceTheState() {
        let led = partition(state: PartitionState(leader: 1, leaderEpoch: 5, partitionEpoch: 7, replicas: [1], isr: [1]))
        led.update(PartitionState(leader: 2, leaderEpoch: 4, partitionEpoch: 6, replicas: [1, 2], isr: [2]))
        #expect(led.state.leader == 1 && led.state.partitionEpoch == 7)
        led.update(PartitionState(leader: 2, leaderEpoch: 6, partitionEpoch: 8, replicas: [1, 2], isr: [2]))
        #expect(led.state.leader == 2 && !led.isLeader)
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
