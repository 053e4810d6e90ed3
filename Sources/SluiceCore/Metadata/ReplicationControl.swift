import KafkaProtocol

/// The controller's side of topics and partitions (Kafka's ReplicationControlManager): create
/// and delete topics, add partitions, and move leadership when brokers are fenced or come back.
/// Pure: it reads the image and returns the records that make the change.
public struct ReplicationControl: Sendable {
    public struct NewTopic: Sendable {
        public var name: String
        public var id: KafkaUUID
        public var partitions: Int
        public var replicationFactor: Int
        /// Manual assignments by partition index (CreateTopics' Assignments); empty: placed.
        public var assignments: [[Int32]]
        public var configs: [String: String]

        public init(name: String, id: KafkaUUID, partitions: Int, replicationFactor: Int, assignments: [[Int32]] = [],
                    configs: [String: String] = [:]) {
            self.name = name
            self.id = id
            self.partitions = partitions
            self.replicationFactor = replicationFactor
            self.assignments = assignments
            self.configs = configs
        }
    }

    /// The broker default of `unclean.leader.election.enable` (a topic's own config wins).
    public var uncleanLeaderElectionDefault: Bool

    public init(uncleanLeaderElectionDefault: Bool = false) {
        self.uncleanLeaderElectionDefault = uncleanLeaderElectionDefault
    }

    /// Whether a replica outside the ISR may lead `topic` when no in-sync one can.
    func uncleanElectionAllowed(_ topic: String, image: MetadataImage) -> Bool {
        guard let value = image.configs[.init(type: 2, name: topic)]?["unclean.leader.election.enable"] else {
            return uncleanLeaderElectionDefault
        }
        return value == "true"
    }

    static func eligible(_ broker: Int32, image: MetadataImage) -> Bool {
        image.brokers[broker].map { !$0.fenced && !$0.inControlledShutdown } ?? false
    }

    static func placerBrokers(_ image: MetadataImage) -> [ReplicaPlacer.Broker] {
        image.activeBrokers.filter { !$0.inControlledShutdown }.map { ReplicaPlacer.Broker(id: $0.id, rack: $0.rack) }
    }

    /// CreateTopics for one topic: TopicRecord, a PartitionRecord per partition (leader the first
    /// live replica, ISR the live replicas), and its configs.
    public func createTopic(_ topic: NewTopic, image: MetadataImage, start: Int) throws(ControllerError) -> [MetadataRecordToWrite] {
        guard image.topic(named: topic.name) == nil else {
            throw ControllerError(.topicAlreadyExists, "Topic '\(topic.name)' already exists.")
        }
        let assignments: [[Int32]]
        if topic.assignments.isEmpty {
            guard topic.partitions >= 1 else {
                throw ControllerError(.invalidPartitions, "Number of partitions was set to an invalid non-positive value.")
            }
            assignments = try ReplicaPlacer.place(partitions: topic.partitions, replicationFactor: topic.replicationFactor,
                                                  brokers: Self.placerBrokers(image), start: start)
        } else {
            assignments = try validated(topic.assignments, image: image)
        }
        var records = [MetadataRecordToWrite(TopicRecord(name: topic.name, topicId: topic.id), .topic)]
        for (index, replicas) in assignments.enumerated() {
            let live = replicas.filter { image.brokers[$0].map { !$0.fenced } ?? false }
            guard let leader = live.first else {
                throw ControllerError(.invalidReplicationFactor,
                                      "All brokers specified in the manual partition assignment for partition \(index) are fenced.")
            }
            records.append(MetadataRecordToWrite(
                PartitionRecord(partitionId: Int32(index), topicId: topic.id, replicas: replicas, isr: live, leader: leader,
                                leaderEpoch: 0, partitionEpoch: 0), .partition))
        }
        for (name, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
            records.append(MetadataRecordToWrite(ConfigRecord(resourceType: 2, resourceName: topic.name, name: name, value: value), .config))
        }
        return records
    }

    /// Kafka's rules for manual assignments: every partition the same replication factor, no
    /// broker twice in a partition, only registered brokers.
    func validated(_ assignments: [[Int32]], image: MetadataImage) throws(ControllerError) -> [[Int32]] {
        let factor = assignments[0].count
        for (index, replicas) in assignments.enumerated() {
            guard !replicas.isEmpty else {
                throw ControllerError(.invalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
            }
            guard replicas.count == factor else {
                throw ControllerError(.invalidReplicaAssignment, "The manual partition assignment includes a partition with \(replicas.count) "
                                      + "replica(s), but this is not consistent with previous partitions, which have \(factor) replica(s).")
            }
            guard Set(replicas).count == replicas.count else {
                throw ControllerError(.invalidReplicaAssignment,
                                      "The manual partition assignment includes the broker \(replicas.first { id in replicas.filter { $0 == id }.count > 1 } ?? -1) more than once.")
            }
            if let unknown = replicas.first(where: { image.brokers[$0] == nil }) {
                throw ControllerError(.invalidReplicaAssignment,
                                      "The manual partition assignment includes broker \(unknown), but no such broker is registered (partition \(index)).")
            }
        }
        return assignments
    }

    public func deleteTopic(named name: String, image: MetadataImage) throws(ControllerError) -> [MetadataRecordToWrite] {
        guard let topic = image.topic(named: name) else {
            throw ControllerError(.unknownTopicOrPartition, "This server does not host this topic-partition.")
        }
        return [MetadataRecordToWrite(RemoveTopicRecord(topicId: topic.id), .removeTopic)]
    }

    /// CreatePartitions: new partitions placed like a new topic's, with the topic's replication factor.
    public func createPartitions(topic name: String, totalCount: Int, assignments: [[Int32]] = [], image: MetadataImage,
                                 start: Int) throws(ControllerError) -> [MetadataRecordToWrite] {
        guard let topic = image.topic(named: name) else {
            throw ControllerError(.unknownTopicOrPartition, "This server does not host this topic-partition.")
        }
        let current = topic.partitions.count
        guard totalCount > current else {
            throw ControllerError(.invalidPartitions, totalCount == current
                ? "Topic already has \(current) partitions."
                : "Topic currently has \(current) partitions, which is higher than the requested \(totalCount).")
        }
        let factor = topic.partitions[0]?.replicas.count ?? 1
        let added: [[Int32]]
        if assignments.isEmpty {
            added = try ReplicaPlacer.place(partitions: totalCount - current, replicationFactor: factor,
                                            brokers: Self.placerBrokers(image), start: start + current)
        } else {
            guard assignments.count == totalCount - current else {
                throw ControllerError(.invalidReplicaAssignment, "Attempted to add \(totalCount - current) additional partition(s), "
                                      + "but only \(assignments.count) assignment(s) were specified.")
            }
            added = try validated(assignments, image: image)
        }
        return try added.enumerated().map { (offset, replicas) throws(ControllerError) -> MetadataRecordToWrite in
            let live = replicas.filter { image.brokers[$0].map { !$0.fenced } ?? false }
            guard let leader = live.first else {
                throw ControllerError(.invalidReplicaAssignment, "All brokers specified for partition \(current + offset) are fenced.")
            }
            return MetadataRecordToWrite(PartitionRecord(partitionId: Int32(current + offset), topicId: topic.id, replicas: replicas,
                                                         isr: live, leader: leader), .partition)
        }
    }

    /// An ISR change the partition's leader asks for (AlterPartition).
    public struct IsrChange: Sendable, Equatable {
        public var brokerId: Int32
        public var brokerEpoch: Int64
        public var topicId: KafkaUUID
        public var partition: Int32
        public var leaderEpoch: Int32
        public var partitionEpoch: Int32
        public var newIsr: [Int32]
        /// The broker epoch each ISR member fetched under, as the leader saw it (KIP-903);
        /// members without one are not checked.
        public var brokerEpochs: [Int32: Int64] = [:]

        public init(brokerId: Int32, brokerEpoch: Int64, topicId: KafkaUUID, partition: Int32, leaderEpoch: Int32,
                    partitionEpoch: Int32, newIsr: [Int32], brokerEpochs: [Int32: Int64] = [:]) {
            self.brokerEpochs = brokerEpochs
            self.brokerId = brokerId
            self.brokerEpoch = brokerEpoch
            self.topicId = topicId
            self.partition = partition
            self.leaderEpoch = leaderEpoch
            self.partitionEpoch = partitionEpoch
            self.newIsr = newIsr
        }
    }

    /// AlterPartition (Kafka's ReplicationControlManager.alterPartition): only the current
    /// leader, at the current leader and partition epochs, may change the ISR, and only to
    /// replicas that are registered, unfenced and not shutting down, and that fetched under
    /// their current registration (KIP-903: a broker that restarted, and may have lost its
    /// unflushed tail, does not rejoin on the strength of its previous life's fetches); the
    /// leader stays in it.
    /// Returns the record (none when nothing changes) and the partition as it will then be.
    public func alterPartition(_ change: IsrChange, image: MetadataImage) throws(ControllerError)
        -> ([MetadataRecordToWrite], PartitionRegistration) {
        guard let broker = image.brokers[change.brokerId], broker.epoch == change.brokerEpoch || change.brokerEpoch == -1 else {
            throw ControllerError(.staleBrokerEpoch, "Broker \(change.brokerId) epoch \(change.brokerEpoch) is not current.")
        }
        guard let topic = image.topicsById[change.topicId] else {
            throw ControllerError(.unknownTopicId, "No topic with id \(change.topicId).")
        }
        guard var partition = topic.partitions[change.partition] else {
            throw ControllerError(.unknownTopicOrPartition, "No partition \(change.partition) in \(topic.name).")
        }
        guard change.leaderEpoch == partition.leaderEpoch else {
            throw ControllerError(.fencedLeaderEpoch, "Leader epoch \(change.leaderEpoch) is not the current \(partition.leaderEpoch).")
        }
        guard change.brokerId == partition.leader else {
            throw ControllerError(.invalidRequest, "Broker \(change.brokerId) does not lead \(topic.name)-\(change.partition).")
        }
        guard change.partitionEpoch == partition.partitionEpoch else {
            throw ControllerError(.invalidUpdateVersion, "Partition epoch \(change.partitionEpoch) is not the current \(partition.partitionEpoch).")
        }
        guard change.newIsr.contains(partition.leader), Set(change.newIsr).count == change.newIsr.count else {
            throw ControllerError(.invalidRequest, "The new ISR \(change.newIsr) must hold the leader once and every replica at most once.")
        }
        for replica in change.newIsr where replica != partition.leader {
            guard partition.replicas.contains(replica), let registration = image.brokers[replica], !registration.fenced,
                  !registration.inControlledShutdown else {
                throw ControllerError(.ineligibleReplica, "Replica \(replica) may not join the ISR of \(topic.name)-\(change.partition).")
            }
            if let epoch = change.brokerEpochs[replica], epoch != registration.epoch {
                throw ControllerError(.ineligibleReplica, "Replica \(replica) fetched under broker epoch \(epoch), "
                                      + "not its current \(registration.epoch): it may not join the ISR of \(topic.name)-\(change.partition).")
            }
        }
        guard change.newIsr.sorted() != partition.isr.sorted() else { return ([], partition) }
        var record = PartitionChangeRecord(partitionId: change.partition, topicId: change.topicId, isr: change.newIsr)
        if partition.recoveringFromUncleanElection && change.newIsr.count > 1 {
            // Followers hold the unclean leader's log now: the partition has recovered.
            record.leaderRecoveryState = 0
        }
        var records = [MetadataRecordToWrite(record, .partitionChange)]
        partition.merge(record)
        if let finish = finishedReassignment(partition, topic: topic, index: change.partition, image: image) {
            records.append(MetadataRecordToWrite(finish, .partitionChange))
            partition.merge(finish)
        }
        return (records, partition)
    }

    /// One partition's outcome of ElectLeaders.
    public struct ElectionResult: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var code: KafkaErrorCode
        public var message: String?
    }

    /// `results` grouped by topic, topics in the order they first appear (one response entry each).
    public static func byTopic(_ results: [ElectionResult]) -> [(topic: String, results: [ElectionResult])] {
        var grouped: [(topic: String, results: [ElectionResult])] = []
        for result in results {
            if let index = grouped.firstIndex(where: { $0.topic == result.topic }) {
                grouped[index].results.append(result)
            } else {
                grouped.append((result.topic, [result]))
            }
        }
        return grouped
    }

    public enum ElectionType: Int8, Sendable {
        case preferred = 0
        case unclean = 1
    }

    /// ElectLeaders (Kafka's ReplicationControlManager.electLeaders): PREFERRED makes the first
    /// assigned replica the leader when it is in the ISR and live (PREFERRED_LEADER_NOT_AVAILABLE
    /// otherwise, ELECTION_NOT_NEEDED when it leads already); UNCLEAN gives a partition with no
    /// leader one — from the ISR when it can, else any live replica, marked as recovering
    /// (ELIGIBLE_LEADERS_NOT_AVAILABLE when none is live). `partitions` nil: every partition,
    /// and only those that got a new leader are reported.
    public func electLeaders(_ type: ElectionType, partitions wanted: [String: [Int32]]?, image: MetadataImage)
        -> ([MetadataRecordToWrite], [ElectionResult]) {
        var records: [MetadataRecordToWrite] = []
        var results: [ElectionResult] = []
        let targets: [(String, Int32)] = wanted.map { wanted in
            wanted.sorted { $0.key < $1.key }.flatMap { topic, indexes in indexes.map { (topic, $0) } }
        } ?? image.topicsById.values.sorted { $0.name < $1.name }.flatMap { topic in topic.partitions.keys.sorted().map { (topic.name, $0) } }
        for (name, index) in targets {
            guard let topic = image.topic(named: name), let partition = topic.partitions[index] else {
                results.append(.init(topic: name, partition: index, code: .unknownTopicOrPartition,
                                     message: "The partition does not exist."))
                continue
            }
            var change = PartitionChangeRecord(partitionId: index, topicId: topic.id)
            switch type {
            case .preferred:
                guard let preferred = partition.replicas.first, partition.leader != preferred else {
                    results.append(.init(topic: name, partition: index, code: .electionNotNeeded, message: "Leader election not needed"))
                    continue
                }
                guard partition.isr.contains(preferred), Self.eligible(preferred, image: image) else {
                    results.append(.init(topic: name, partition: index, code: .preferredLeaderNotAvailable,
                                         message: "Failed to elect leader for partition \(name)-\(index) under strategy PreferredReplicaPartitionLeaderElectionStrategy"))
                    continue
                }
                change.leader = preferred
            case .unclean:
                guard partition.leader < 0 else {
                    results.append(.init(topic: name, partition: index, code: .electionNotNeeded, message: "Leader election not needed"))
                    continue
                }
                if let clean = partition.isr.first(where: { Self.eligible($0, image: image) }) {
                    change.leader = clean
                } else if let stale = partition.replicas.first(where: { Self.eligible($0, image: image) }) {
                    change.leader = stale
                    change.isr = [stale]
                    change.leaderRecoveryState = 1
                } else {
                    results.append(.init(topic: name, partition: index, code: .eligibleLeadersNotAvailable,
                                         message: "No replica of \(name)-\(index) is live."))
                    continue
                }
            }
            records.append(MetadataRecordToWrite(change, .partitionChange))
            results.append(.init(topic: name, partition: index, code: .none, message: nil))
        }
        if wanted == nil { results.removeAll { $0.code != .none } }
        return (records, results)
    }

    /// Kafka's auto.leader.rebalance.enable check: for each broker, the share of partitions it
    /// should lead (it is their first replica) that it does not lead; where that share is above
    /// `imbalancePercent`, those partitions are given back to it when it is in their ISR.
    public func rebalanceLeaders(image: MetadataImage, imbalancePercent: Int) -> [MetadataRecordToWrite] {
        var preferredOf: [Int32: [(String, Int32)]] = [:]
        for topic in image.topicsById.values {
            for (index, partition) in topic.partitions {
                if let preferred = partition.replicas.first { preferredOf[preferred, default: []].append((topic.name, index)) }
            }
        }
        var wanted: [String: [Int32]] = [:]
        for (broker, partitions) in preferredOf where Self.eligible(broker, image: image) {
            let elsewhere = partitions.filter { image.topic(named: $0.0)?.partitions[$0.1]?.leader != broker }
            guard !elsewhere.isEmpty, elsewhere.count * 100 > imbalancePercent * partitions.count else { continue }
            for (topic, index) in elsewhere { wanted[topic, default: []].append(index) }
        }
        guard !wanted.isEmpty else { return [] }
        return electLeaders(.preferred, partitions: wanted, image: image).0
    }

    /// A broker was fenced: it leaves every ISR it is in (unless it is the last member, which
    /// stays so that an unclean election is never implied), and partitions it led get the next
    /// live ISR member as leader, or none (offline).
    public func brokerFenced(_ brokerId: Int32, image: MetadataImage) -> [MetadataRecordToWrite] {
        var records: [MetadataRecordToWrite] = []
        for topic in image.topicsById.values.sorted(by: { $0.name < $1.name }) {
            for (index, partition) in topic.partitions.sorted(by: { $0.key < $1.key }) where partition.isr.contains(brokerId) || partition.leader == brokerId {
                let remaining = partition.isr.filter { $0 != brokerId }
                let newIsr = remaining.isEmpty ? partition.isr : remaining
                var change = PartitionChangeRecord(partitionId: index, topicId: topic.id)
                if newIsr != partition.isr { change.isr = newIsr }
                if partition.leader == brokerId {
                    change.leader = remaining.first { image.brokers[$0].map { !$0.fenced } ?? false } ?? -1
                    if change.leader == -1, uncleanElectionAllowed(topic.name, image: image),
                       let stale = partition.replicas.first(where: { $0 != brokerId && Self.eligible($0, image: image) }) {
                        // Unclean: a replica that may lack acknowledged records leads, alone in
                        // the ISR, and the partition is marked as recovering (Kafka's LeaderRecoveryState).
                        change.leader = stale
                        change.isr = [stale]
                        change.leaderRecoveryState = 1
                    }
                }
                if change.isr != nil || change.leader != -2 { records.append(MetadataRecordToWrite(change, .partitionChange)) }
            }
        }
        return records
    }

    /// A broker came back: offline partitions whose ISR holds it get it as leader; with unclean
    /// election allowed, so do offline partitions it is only a replica of.
    public func brokerUnfenced(_ brokerId: Int32, image: MetadataImage) -> [MetadataRecordToWrite] {
        var records: [MetadataRecordToWrite] = []
        for topic in image.topicsById.values.sorted(by: { $0.name < $1.name }) {
            for (index, partition) in topic.partitions.sorted(by: { $0.key < $1.key })
            where partition.leader == -1 && partition.replicas.contains(brokerId) {
                if partition.isr.contains(brokerId) {
                    records.append(MetadataRecordToWrite(PartitionChangeRecord(partitionId: index, topicId: topic.id, leader: brokerId),
                                                         .partitionChange))
                } else if uncleanElectionAllowed(topic.name, image: image) {
                    records.append(MetadataRecordToWrite(PartitionChangeRecord(partitionId: index, topicId: topic.id, isr: [brokerId],
                                                                               leader: brokerId, leaderRecoveryState: 1),
                                                         .partitionChange))
                }
            }
        }
        return records
    }
}
