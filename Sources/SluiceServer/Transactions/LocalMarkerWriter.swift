import KafkaProtocol
import SluiceCore
import SluiceStorage
import Synchronization

/// Writes a transaction's markers on the partitions of this broker, as a leader answers
/// WriteTxnMarkers: each marker appended through the partition layer (refused where this
/// broker is not the leader), answered once the in-sync replicas hold it (acks=all). A
/// partition whose topic is gone needs no marker. The group log's partition (a transaction
/// that committed offsets) gets its marker from the group coordinator, which then settles the
/// offsets. The answers come back together on the coordinator's owner.
final class LocalMarkerWriter: TransactionMarkerWriter, @unchecked Sendable {
    // @unchecked: immutable after init; the registry is thread-safe.
    private let registry: TopicRegistry
    private let groups: GroupCoordinator?
    private let coordinatorOwner: any LogOwnerExecutor
    private let clock: @Sendable () -> Int64
    /// How long a marker waits for the in-sync replicas before it is reported timed out.
    private let replicationTimeoutMs: Int64

    init(registry: TopicRegistry, groups: GroupCoordinator?, coordinatorOwner: any LogOwnerExecutor, clock: @escaping @Sendable () -> Int64,
         replicationTimeoutMs: Int64 = 30_000) {
        self.registry = registry
        self.groups = groups
        self.coordinatorOwner = coordinatorOwner
        self.clock = clock
        self.replicationTimeoutMs = replicationTimeoutMs
    }

    func write(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, partitions: [TopicPartitionKey],
               completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void) {
        let answers = MarkerAnswers(count: partitions.count, owner: coordinatorOwner, completion: completion)
        let (clock, timeoutMs) = (self.clock, replicationTimeoutMs)
        for key in partitions {
            if key.topic == OffsetsTopicStore.topic, registry.topic(named: key.topic) == nil, let groups {
                groups.owner.execute {
                    groups.writeTransactionMarker(marker, producerId: producerId, producerEpoch: producerEpoch) { answers.finish(key, $0) }
                }
                continue
            }
            guard let partition = registry.partition(topic: key.topic, index: key.partition) else {
                answers.finish(key, .none)
                continue
            }
            let minInsync = partition.minInsyncReplicas
            partition.owner.execute {
                let log: PartitionLog
                switch partition.logForAppend(acks: -1, minInsyncReplicas: minInsync) {
                case .failure(let refusal): return answers.finish(key, refusal.code)
                case .success(let leaderLog): log = leaderLog
                }
                do {
                    try log.appendTransactionMarker(marker, producerId: producerId, producerEpoch: producerEpoch, nowMs: clock()) { result in
                        switch result {
                        case .failure(let error):
                            answers.finish(key, StorageErrorMapping.code(for: error))
                        case .success(let info):
                            partition.awaitReplication(through: info.lastOffset + 1, minInsync: minInsync, timeoutMs: timeoutMs) {
                                answers.finish(key, $0)
                            }
                        }
                    }
                } catch {
                    answers.finish(key, StorageErrorMapping.code(for: error))
                }
            }
        }
    }
}

/// The partitions' answers to one marker write, handed to the coordinator's owner when the
/// last is in.
private final class MarkerAnswers: @unchecked Sendable {
    // @unchecked: the results are behind the lock; the completion runs on `owner`.
    private let state: Mutex<(remaining: Int, results: [TopicPartitionKey: KafkaErrorCode])>
    private let owner: any LogOwnerExecutor
    private let completion: ([TopicPartitionKey: KafkaErrorCode]) -> Void

    init(count: Int, owner: any LogOwnerExecutor, completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void) {
        state = Mutex((count, [:]))
        self.owner = owner
        self.completion = completion
        if count == 0 { owner.execute { [self] in self.completion([:]) } }
    }

    func finish(_ key: TopicPartitionKey, _ code: KafkaErrorCode) {
        let done = state.withLock { state -> [TopicPartitionKey: KafkaErrorCode]? in
            state.results[key] = code
            state.remaining -= 1
            return state.remaining == 0 ? state.results : nil
        }
        guard let done else { return }
        owner.execute { [self] in completion(done) }
    }
}
