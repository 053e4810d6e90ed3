import KafkaProtocol
import SluiceCore
import SluiceStorage

/// The one question transaction handlers ask: which coordinator here, if any, serves a
/// transactional id. A broker of its own has one coordinator for every id; in a cluster the
/// coordinator of the id's `__transaction_state` partition does, when this broker leads it
/// (NOT_COORDINATOR otherwise, COORDINATOR_LOAD_IN_PROGRESS while it loads), as Kafka answers.
final class TransactionCoordinators: Sendable {
    enum Lookup {
        case served(TransactionCoordinator)
        case refused(KafkaErrorCode)
    }

    private let single: TransactionCoordinator?
    private let partitions: TransactionPartitions?
    private let registry: TopicRegistry

    init(single: TransactionCoordinator?, partitions: TransactionPartitions?, registry: TopicRegistry) {
        self.single = single
        self.partitions = partitions
        self.registry = registry
    }

    func lookup(_ transactionalId: String) -> Lookup {
        if let single { return .served(single) }
        guard let partitions else { return .refused(.coordinatorNotAvailable) }
        switch partitions.lookup(transactionalId) {
        case .served(let coordinator): return .served(coordinator)
        case .loading: return .refused(.coordinatorLoadInProgress)
        case .elsewhere: return .refused(.notCoordinator)
        }
    }

    /// Where every coordinator here runs; nil in a cluster node that serves no clients.
    var owner: (any LogOwnerExecutor)? { single?.owner ?? partitions?.owner }

    /// Every coordinator running here (one, or one per partition led); read on `owner`.
    var all: [TransactionCoordinator] {
        if let single { return [single] }
        return partitions?.coordinators ?? []
    }

    /// The partition of the group log a group's transactional offsets go to, which
    /// AddOffsetsToTxn adds to the transaction (so its marker reaches the group coordinator):
    /// the group's `__consumer_offsets` partition in a cluster, the one group log (0) otherwise.
    /// Before the topic exists, the partition count it will be created with.
    func offsetsPartition(forGroup groupId: String) -> TopicPartitionKey {
        let count = single != nil ? 1 : registry.topic(named: OffsetsTopicStore.topic)?.partitions.count
            ?? registry.brokerConfig.int("offsets.topic.num.partitions")
        return TopicPartitionKey(topic: OffsetsTopicStore.topic, partition: OffsetsTopicStore.partition(for: groupId, partitions: count))
    }
}
