import KafkaProtocol

/// Partition reassignment (Kafka's AlterPartitionReassignments, KIP-455, as KRaft's
/// ReplicationControlManager runs it): the partition's replicas become the target plus the
/// replicas being removed, the new ones are marked adding; they fetch like any follower and
/// the leader takes them into the ISR; once every adding replica is in sync the controller
/// finishes it — the replicas become the target, the removed ones leave the ISR, and a leader
/// being removed hands over to an in-sync target replica. Nothing is acknowledged on fewer
/// copies meanwhile: the ISR only grows until the end.
extension ReplicationControl {
    public struct Reassignment: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        /// nil: cancel the reassignment in progress.
        public var replicas: [Int32]?

        public init(topic: String, partition: Int32, replicas: [Int32]?) {
            self.topic = topic
            self.partition = partition
            self.replicas = replicas
        }
    }

    public func alterReassignments(_ wanted: [Reassignment], image: MetadataImage) -> ([MetadataRecordToWrite], [ElectionResult]) {
        var records: [MetadataRecordToWrite] = []
        var results: [ElectionResult] = []
        var working = image
        for request in wanted {
            func refuse(_ code: KafkaErrorCode, _ message: String) {
                results.append(.init(topic: request.topic, partition: request.partition, code: code, message: message))
            }
            guard let topic = working.topic(named: request.topic), let partition = topic.partitions[request.partition] else {
                refuse(.unknownTopicOrPartition, "The partition does not exist.")
                continue
            }
            let ongoing = !partition.addingReplicas.isEmpty || !partition.removingReplicas.isEmpty
            var change: PartitionChangeRecord
            if let target = request.replicas {
                guard !target.isEmpty else {
                    refuse(.invalidReplicaAssignment, "The replica list is empty.")
                    continue
                }
                guard Set(target).count == target.count else {
                    refuse(.invalidReplicaAssignment, "The replica list names a broker more than once.")
                    continue
                }
                if let unknown = target.first(where: { working.brokers[$0] == nil }) {
                    refuse(.invalidReplicaAssignment, "Broker \(unknown) is not registered.")
                    continue
                }
                // A new target replaces a reassignment in progress: start from its original replicas.
                let current = partition.replicas.filter { !partition.addingReplicas.contains($0) }
                let adding = target.filter { !current.contains($0) }
                let removing = current.filter { !target.contains($0) }
                change = PartitionChangeRecord(partitionId: request.partition, topicId: topic.id,
                                               replicas: target + removing, removingReplicas: removing, addingReplicas: adding)
                if adding.isEmpty {
                    change = completion(of: partition, target: target, topic: topic, request: request.partition, image: working)
                }
            } else {
                guard ongoing else {
                    refuse(.noReassignmentInProgress, "No reassignment is in progress for \(request.topic)-\(request.partition).")
                    continue
                }
                let original = partition.replicas.filter { !partition.addingReplicas.contains($0) }
                change = completion(of: partition, target: original, topic: topic, request: request.partition, image: working)
            }
            let record = MetadataRecordToWrite(change, .partitionChange)
            do {
                try working.apply(record.record, type: record.type)
            } catch {
                refuse(.unknownServerError, "\(error)")
                continue
            }
            records.append(record)
            results.append(.init(topic: request.topic, partition: request.partition, code: .none, message: nil))
        }
        return (records, results)
    }

    /// The record that ends a reassignment with `target` as the replicas: the ISR keeps only
    /// target replicas, and a leader outside the target gives way to an in-sync, live one (or
    /// none, when no target replica is in sync).
    func completion(of partition: PartitionRegistration, target: [Int32], topic: TopicMetadataImage, request index: Int32,
                    image: MetadataImage) -> PartitionChangeRecord {
        var isr = partition.isr.filter { target.contains($0) }
        var change = PartitionChangeRecord(partitionId: index, topicId: topic.id, replicas: target, removingReplicas: [],
                                           addingReplicas: [])
        if !target.contains(partition.leader) {
            change.leader = isr.first { Self.eligible($0, image: image) } ?? -1
        }
        if isr.isEmpty { isr = partition.isr.filter { $0 == partition.leader } }
        if isr != partition.isr { change.isr = isr }
        return change
    }

    /// After an ISR change: a reassignment whose adding replicas are all in sync now is done.
    func finishedReassignment(_ partition: PartitionRegistration, topic: TopicMetadataImage, index: Int32,
                              image: MetadataImage) -> PartitionChangeRecord? {
        guard !partition.addingReplicas.isEmpty || !partition.removingReplicas.isEmpty,
              partition.addingReplicas.allSatisfy({ partition.isr.contains($0) }) else { return nil }
        let target = partition.replicas.filter { !partition.removingReplicas.contains($0) }
        return completion(of: partition, target: target, topic: topic, request: index, image: image)
    }
}
