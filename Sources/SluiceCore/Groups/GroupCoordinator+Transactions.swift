import KafkaProtocol
import Logging
import SluiceStorage

/// Offsets committed inside a transaction (TxnOffsetCommit, KIP-98/447), as Kafka's group
/// coordinator keeps them: written to the group log under the producer's id and epoch, pending
/// until the transaction's marker reaches the group log; a COMMIT makes them the group's
/// committed offsets, an ABORT drops them. While pending, OffsetFetch with require_stable says
/// UNSTABLE_OFFSET_COMMIT for their partitions.
extension GroupCoordinator {
    /// TxnOffsetCommit: per-partition errors, once the pending commits are durable. A member
    /// id and generation (v3+) are checked when given, as Kafka does.
    public func commitTransactionalOffsets(groupId: String, producerId: Int64, producerEpoch: Int16, generationId: Int32, memberId: String,
                                           groupInstanceId: String?, entries: [OffsetCommitEntry],
                                           completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void) {
        precondition(owner.isCurrent, "the group coordinator is used on its owner only")
        let now = clock()
        func failAll(_ error: KafkaErrorCode) {
            completion(Dictionary(entries.map { ($0.partition, error) }, uniquingKeysWith: { first, _ in first }))
        }
        guard !groupId.isEmpty else { return failAll(.invalidGroupId) }
        let group = groups[groupId] ?? makeGroup(groupId, nowMs: now)
        if group.isFenced(memberId: memberId, instanceId: groupInstanceId) { return failAll(.fencedInstanceId) }
        if !memberId.isEmpty && group.members[memberId] == nil { return failAll(.unknownMemberId) }
        if generationId >= 0 && generationId != group.generationId { return failAll(.illegalGeneration) }
        var errors: [TopicPartitionKey: KafkaErrorCode] = [:]
        var accepted: [(TopicPartitionKey, CommittedOffset)] = []
        for entry in entries {
            let metadata = entry.metadata ?? ""
            if metadata.utf8.count > config.offsetMetadataMaxBytes {
                errors[entry.partition] = .offsetMetadataTooLarge
                continue
            }
            accepted.append((entry.partition, CommittedOffset(offset: entry.offset, leaderEpoch: entry.leaderEpoch, metadata: metadata,
                                                              commitTimestampMs: now)))
        }
        guard !accepted.isEmpty else { return completion(errors) }
        store.appendTransactional(accepted.map { .offset(group: groupId, $0.0, $0.1) }, producerId: producerId,
                                  producerEpoch: producerEpoch) { [self] result in
            switch result {
            case .success:
                for (partition, committed) in accepted {
                    pendingTransactionalOffsets[producerId, default: [:]][groupId, default: [:]][partition] = committed
                    errors[partition] = KafkaErrorCode.none
                }
            case .failure(let error):
                logger.error("could not store a transactional offset commit", metadata: ["group": "\(groupId)", "error": "\(error)"])
                for (partition, _) in accepted { errors[partition] = .coordinatorNotAvailable }
                forgetIfUnused(group)
            }
            completion(errors)
        }
    }

    /// A transaction's marker on a partition of the group log (the transaction coordinator's,
    /// for a transaction that committed offsets of groups on that partition): once it is
    /// durable, the producer's pending offsets of those groups count (COMMIT) or go (ABORT).
    public func writeTransactionMarker(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, offsetsPartition: Int32 = 0,
                                       completion: @escaping (KafkaErrorCode) -> Void) {
        precondition(owner.isCurrent, "the group coordinator is used on its owner only")
        store.appendMarker(marker, producerId: producerId, producerEpoch: producerEpoch, offsetsPartition: offsetsPartition) { [self] result in
            switch result {
            case .success:
                var pending: [String: [TopicPartitionKey: CommittedOffset?]] = [:]
                for (groupId, offsets) in pendingTransactionalOffsets[producerId] ?? [:]
                where store.offsetsPartition(of: groupId) == offsetsPartition {
                    pending[groupId] = offsets
                    pendingTransactionalOffsets[producerId]?[groupId] = nil
                }
                if pendingTransactionalOffsets[producerId]?.isEmpty == true { pendingTransactionalOffsets[producerId] = nil }
                if marker.kind == .commit {
                    let now = clock()
                    for (groupId, offsets) in pending {
                        let group = groups[groupId] ?? makeGroup(groupId, nowMs: now)
                        for (partition, committed) in offsets { group.offsets[partition] = committed }
                        scheduleExpiry(group)
                    }
                }
                completion(.none)
            case .failure(let error):
                // The transaction coordinator retries what passes (a leader moving, replicas behind).
                completion((error as? TopicError)?.code ?? (error as? StorageError)?.kafkaCode ?? .notLeaderOrFollower)
            }
        }
    }

    /// Whether a transaction's offset commit for one of `partitions` of the group is still
    /// undecided (OffsetFetch with require_stable then answers UNSTABLE_OFFSET_COMMIT).
    public func pendingTransactionalPartitions(groupId: String, partitions: [TopicPartitionKey]?) -> Set<TopicPartitionKey> {
        var pending = Set<TopicPartitionKey>()
        for byGroup in pendingTransactionalOffsets.values {
            guard let offsets = byGroup[groupId] else { continue }
            for partition in offsets.keys where partitions?.contains(partition) ?? true { pending.insert(partition) }
        }
        return pending
    }
}
