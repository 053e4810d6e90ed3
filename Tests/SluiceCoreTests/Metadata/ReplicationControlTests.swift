import KafkaProtocol
import Testing

@testable import SluiceCore

/// Topics and partitions as the controller places and moves them.
@Suite struct ReplicationControlTests {
    let control = ReplicationControl()

    /// Brokers 1...n registered and unfenced, with the given racks.
    func image(brokers: Int, racks: [String?]? = nil) throws -> MetadataImage {
        var image = MetadataImage()
        for id in 1...Int32(brokers) {
            let rack = racks.map { $0[Int(id - 1) % $0.count] } ?? nil
            try image.apply(RegisterBrokerRecord(brokerId: id, incarnationId: KafkaUUID(high: 1, low: UInt64(id)), brokerEpoch: Int64(id),
                                                 rack: rack, fenced: false), type: .registerBroker)
        }
        return image
    }

    func apply(_ records: [MetadataRecordToWrite], to image: inout MetadataImage) throws {
        for record in records { try image.apply(record.record, type: record.type) }
    }

    @Test func replicasAreDistinctLeadersSpreadAndRacksUsedBeforeSharing() throws {
        let brokers = [ReplicaPlacer.Broker(id: 1, rack: "a"), .init(id: 2, rack: "a"), .init(id: 3, rack: "b"),
                       .init(id: 4, rack: "b"), .init(id: 5, rack: "c"), .init(id: 6, rack: "c")]
        let placed = try ReplicaPlacer.place(partitions: 60, replicationFactor: 3, brokers: brokers, start: 0)
        let rackOf = Dictionary(uniqueKeysWithValues: brokers.map { ($0.id, $0.rack!) })
        for replicas in placed {
            #expect(Set(replicas).count == 3)
            #expect(Set(replicas.map { rackOf[$0]! }).count == 3, "replicas \(replicas) share a rack")
        }
        let leaders = Dictionary(grouping: placed.map { $0[0] }, by: { $0 }).mapValues(\.count)
        #expect(leaders.count == 6 && leaders.values.allSatisfy { $0 == 10 })
        // Followers are not always the same pairs.
        #expect(Set(placed.map { Set($0.dropFirst()) }).count > 6)
        // Without racks, the same.
        let plain = try ReplicaPlacer.place(partitions: 6, replicationFactor: 3, brokers: (1...3).map { .init(id: $0, rack: nil) },
                                            start: 1)
        #expect(plain.allSatisfy { Set($0).count == 3 })
        #expect(plain.map { $0[0] } == [2, 3, 1, 2, 3, 1])
    }

    @Test func aReplicationFactorAboveTheBrokersIsRefusedAsKafkaRefusesIt() throws {
        do {
            _ = try ReplicaPlacer.place(partitions: 1, replicationFactor: 3, brokers: [.init(id: 1, rack: nil), .init(id: 2, rack: nil)], start: 0)
            Issue.record("placed 3 replicas on 2 brokers")
        } catch {
            #expect(error.code == .invalidReplicationFactor)
            #expect(error.message == "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 broker(s) are registered.")
        }
    }

    @Test func aTopicIsCreatedAcrossTheBrokersAndDeleted() throws {
        var image = try image(brokers: 3)
        let id = KafkaUUID(high: 9, low: 9)
        let records = try control.createTopic(.init(name: "orders", id: id, partitions: 6, replicationFactor: 3,
                                                    configs: ["retention.ms": "1000"]), image: image, start: 0)
        try apply(records, to: &image)
        let topic = try #require(image.topic(named: "orders"))
        #expect(topic.partitions.count == 6)
        #expect(Set(topic.partitions.values.map(\.leader)) == [1, 2, 3])
        #expect(topic.partitions.values.allSatisfy { $0.isr == $0.replicas && $0.replicas.count == 3 })
        #expect(image.configs[.init(type: 2, name: "orders")] == ["retention.ms": "1000"])
        #expect(throws: ControllerError.self) {
            try control.createTopic(.init(name: "orders", id: KafkaUUID(high: 1, low: 1), partitions: 1, replicationFactor: 1), image: image, start: 0)
        }
        try apply(control.createPartitions(topic: "orders", totalCount: 8, image: image, start: 0), to: &image)
        #expect(image.topic(named: "orders")?.partitions.count == 8)
        #expect(image.topic(named: "orders")?.partitions[7]?.replicas.count == 3)
        do {
            _ = try control.createPartitions(topic: "orders", totalCount: 4, image: image, start: 0)
            Issue.record("shrank a topic")
        } catch {
            #expect(error.code == .invalidPartitions)
            #expect(error.message == "Topic currently has 8 partitions, which is higher than the requested 4.")
        }
        try apply(control.deleteTopic(named: "orders", image: image), to: &image)
        #expect(image.topic(named: "orders") == nil)
    }

    @Test func manualAssignmentsFollowKafkasRules() throws {
        let image = try image(brokers: 3)
        func error(_ assignments: [[Int32]]) -> KafkaErrorCode? {
            do {
                _ = try control.createTopic(.init(name: "m", id: KafkaUUID(high: 2, low: 2), partitions: -1, replicationFactor: -1,
                                                  assignments: assignments), image: image, start: 0)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(error([[1, 2], [2, 3]]) == nil)
        #expect(error([[1, 1]]) == .invalidReplicaAssignment)
        #expect(error([[1, 2], [3]]) == .invalidReplicaAssignment)
        #expect(error([[1, 7]]) == .invalidReplicaAssignment)
    }

    @Test func fencingMovesLeadershipToTheISRAndNeverEmptiesIt() throws {
        var image = try image(brokers: 3)
        let id = KafkaUUID(high: 3, low: 3)
        try apply(control.createTopic(.init(name: "t", id: id, partitions: 1, replicationFactor: 3, assignments: [[1, 2, 3]]),
                                      image: image, start: 0), to: &image)
        // Broker 1 (leader) is fenced: 2 leads, 1 leaves the ISR.
        try image.apply(FenceBrokerRecord(id: 1, epoch: 1), type: .fenceBroker)
        try apply(control.brokerFenced(1, image: image), to: &image)
        var partition = try #require(image.topic(named: "t")?.partitions[0])
        #expect(partition.leader == 2 && partition.isr == [2, 3] && partition.leaderEpoch == 1)
        // Then 2 and 3: the partition goes offline, and the last ISR member stays in it.
        for broker: Int32 in [2, 3] {
            try image.apply(FenceBrokerRecord(id: broker, epoch: Int64(broker)), type: .fenceBroker)
            try apply(control.brokerFenced(broker, image: image), to: &image)
        }
        partition = try #require(image.topic(named: "t")?.partitions[0])
        #expect(partition.leader == -1 && partition.isr == [3])
        // Broker 1 returning is not in the ISR: still offline (no unclean election). Broker 3 is.
        try image.apply(UnfenceBrokerRecord(id: 1, epoch: 1), type: .unfenceBroker)
        #expect(control.brokerUnfenced(1, image: image).isEmpty)
        try image.apply(UnfenceBrokerRecord(id: 3, epoch: 3), type: .unfenceBroker)
        try apply(control.brokerUnfenced(3, image: image), to: &image)
        partition = try #require(image.topic(named: "t")?.partitions[0])
        #expect(partition.leader == 3 && partition.isr == [3])
    }

    @Test func alterPartitionTakesOnlyTheCurrentLeadersChangeToEligibleReplicas() throws {
        var image = try image(brokers: 3)
        let id = KafkaUUID(high: 4, low: 4)
        try apply(control.createTopic(.init(name: "t", id: id, partitions: 1, replicationFactor: 3, assignments: [[1, 2, 3]]),
                                      image: image, start: 0), to: &image)
        func change(_ isr: [Int32], broker: Int32 = 1, epoch: Int64 = 1, leaderEpoch: Int32 = 0, partitionEpoch: Int32 = 0)
            -> ReplicationControl.IsrChange {
            .init(brokerId: broker, brokerEpoch: epoch, topicId: id, partition: 0, leaderEpoch: leaderEpoch,
                  partitionEpoch: partitionEpoch, newIsr: isr)
        }
        func refusal(_ isrChange: ReplicationControl.IsrChange) -> KafkaErrorCode? {
            do {
                _ = try control.alterPartition(isrChange, image: image)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(refusal(change([1, 2], broker: 2, epoch: 2)) == .invalidRequest, "not the leader")
        #expect(refusal(change([1, 2], epoch: 9)) == .staleBrokerEpoch)
        #expect(refusal(change([1, 2], leaderEpoch: 1)) == .fencedLeaderEpoch)
        #expect(refusal(change([1, 2], partitionEpoch: 5)) == .invalidUpdateVersion)
        #expect(refusal(change([2, 3])) == .invalidRequest, "the leader must stay in")
        #expect(refusal(.init(brokerId: 1, brokerEpoch: 1, topicId: KafkaUUID(high: 9, low: 9), partition: 0, leaderEpoch: 0,
                              partitionEpoch: 0, newIsr: [1])) == .unknownTopicId)
        // A shrink: written, the partition epoch moves, the leader epoch does not.
        let (records, after) = try control.alterPartition(change([1, 2]), image: image)
        try apply(records, to: &image)
        #expect(image.topic(named: "t")?.partitions[0] == after)
        #expect(after.isr == [1, 2] && after.partitionEpoch == 1 && after.leaderEpoch == 0)
        // The same ISR again changes nothing; a fenced broker may not join.
        #expect(try control.alterPartition(change([1, 2], partitionEpoch: 1), image: image).0.isEmpty)
        // KIP-903: broker 3 fetched under an epoch it no longer has (it restarted since, and may
        // have lost what it had not flushed): it may not rejoin on those fetches. Under its
        // current epoch (3) it may.
        var stale = change([1, 2, 3], partitionEpoch: 1)
        stale.brokerEpochs = [2: 2, 3: 1]
        #expect(refusal(stale) == .ineligibleReplica)
        var current = stale
        current.brokerEpochs = [2: 2, 3: 3]
        #expect(refusal(current) == nil)
        try image.apply(FenceBrokerRecord(id: 3, epoch: 3), type: .fenceBroker)
        #expect(refusal(change([1, 2, 3], partitionEpoch: 1)) == .ineligibleReplica)
    }

    @Test func uncleanElectionLetsAStaleReplicaLeadOnlyWhenEnabled() throws {
        for enabled in [false, true] {
            var image = try image(brokers: 3)
            let id = KafkaUUID(high: 5, low: 5)
            try apply(control.createTopic(.init(name: "t", id: id, partitions: 1, replicationFactor: 3, assignments: [[1, 2, 3]],
                                                configs: enabled ? ["unclean.leader.election.enable": "true"] : [:]),
                                          image: image, start: 0), to: &image)
            // 3 fell out of the ISR earlier; then 2 and 1 die: only the stale 3 is left.
            try apply(control.alterPartition(.init(brokerId: 1, brokerEpoch: 1, topicId: id, partition: 0, leaderEpoch: 0,
                                                   partitionEpoch: 0, newIsr: [1, 2]), image: image).0, to: &image)
            for broker: Int32 in [2, 1] {
                try image.apply(FenceBrokerRecord(id: broker, epoch: Int64(broker)), type: .fenceBroker)
                try apply(control.brokerFenced(broker, image: image), to: &image)
            }
            let partition = try #require(image.topic(named: "t")?.partitions[0])
            if enabled {
                #expect(partition.leader == 3 && partition.isr == [3] && partition.recoveringFromUncleanElection)
                // Followers caught up and taken back: recovered.
                try image.apply(UnfenceBrokerRecord(id: 1, epoch: 1), type: .unfenceBroker)
                let (records, after) = try control.alterPartition(
                    .init(brokerId: 3, brokerEpoch: 3, topicId: id, partition: 0, leaderEpoch: partition.leaderEpoch,
                          partitionEpoch: partition.partitionEpoch, newIsr: [3, 1]), image: image)
                try apply(records, to: &image)
                #expect(!after.recoveringFromUncleanElection && image.topic(named: "t")?.partitions[0]?.recoveringFromUncleanElection == false)
            } else {
                #expect(partition.leader == -1 && partition.isr == [1], "offline rather than lose acknowledged records")
            }
        }
        // Offline when the stale replica was down too; it comes back: elected only if enabled.
        var strict = ReplicationControl(uncleanLeaderElectionDefault: true)
        var image = try image(brokers: 3)
        let id = KafkaUUID(high: 6, low: 6)
        try apply(strict.createTopic(.init(name: "u", id: id, partitions: 1, replicationFactor: 2, assignments: [[1, 2]]),
                                     image: image, start: 0), to: &image)
        try apply(strict.alterPartition(.init(brokerId: 1, brokerEpoch: 1, topicId: id, partition: 0, leaderEpoch: 0,
                                              partitionEpoch: 0, newIsr: [1]), image: image).0, to: &image)
        for broker: Int32 in [2, 1] {
            try image.apply(FenceBrokerRecord(id: broker, epoch: Int64(broker)), type: .fenceBroker)
            try apply(strict.brokerFenced(broker, image: image), to: &image)
        }
        #expect(image.topic(named: "u")?.partitions[0]?.leader == -1)
        try image.apply(UnfenceBrokerRecord(id: 2, epoch: 2), type: .unfenceBroker)
        strict.uncleanLeaderElectionDefault = false
        #expect(strict.brokerUnfenced(2, image: image).isEmpty)
        strict.uncleanLeaderElectionDefault = true
        try apply(strict.brokerUnfenced(2, image: image), to: &image)
        #expect(image.topic(named: "u")?.partitions[0]?.leader == 2)
    }

    @Test func aReassignmentAddsReplicasThenFinishesWhenTheyAreInSync() throws {
        var image = try image(brokers: 4)
        let id = KafkaUUID(high: 7, low: 7)
        try apply(control.createTopic(.init(name: "t", id: id, partitions: 1, replicationFactor: 3, assignments: [[1, 2, 3]]),
                                      image: image, start: 0), to: &image)
        let (noop, cancelled) = control.alterReassignments([.init(topic: "t", partition: 0, replicas: nil)], image: image)
        #expect(noop.isEmpty && cancelled.first?.code == .noReassignmentInProgress)
        #expect(control.alterReassignments([.init(topic: "t", partition: 0, replicas: [4, 4, 2])], image: image).1.first?.code
                == .invalidReplicaAssignment)
        #expect(control.alterReassignments([.init(topic: "t", partition: 0, replicas: [9, 2, 3])], image: image).1.first?.code
                == .invalidReplicaAssignment)
        // Move off broker 1 (the leader) onto 4: 4 is added, 1 kept until 4 is in sync.
        let (records, results) = control.alterReassignments([.init(topic: "t", partition: 0, replicas: [4, 2, 3])], image: image)
        #expect(results.map(\.code) == [.none])
        try apply(records, to: &image)
        var partition = try #require(image.topic(named: "t")?.partitions[0])
        #expect(partition.replicas == [4, 2, 3, 1] && partition.addingReplicas == [4] && partition.removingReplicas == [1])
        #expect(partition.isr == [1, 2, 3] && partition.leader == 1)
        // The leader takes 4 into the ISR: the reassignment finishes, 1 leaves, 2 leads.
        let (finished, _) = try control.alterPartition(.init(brokerId: 1, brokerEpoch: 1, topicId: id, partition: 0,
                                                             leaderEpoch: partition.leaderEpoch, partitionEpoch: partition.partitionEpoch,
                                                             newIsr: [1, 2, 3, 4]), image: image)
        try apply(finished, to: &image)
        partition = try #require(image.topic(named: "t")?.partitions[0])
        #expect(partition.replicas == [4, 2, 3] && partition.addingReplicas.isEmpty && partition.removingReplicas.isEmpty)
        #expect(partition.isr == [2, 3, 4] && partition.leader == 2 && partition.leaderEpoch == 1)
    }
}
