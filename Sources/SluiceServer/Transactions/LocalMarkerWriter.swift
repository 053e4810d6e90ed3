import KafkaProtocol
import SluiceCore
import SluiceStorage
import Synchronization

/// Writes a transaction's markers on a broker of its own: every partition is this broker's,
/// each marker appended by `MarkerAppender`. The answers come back together on the
/// coordinator's owner.
final class LocalMarkerWriter: TransactionMarkerWriter, @unchecked Sendable {
    // @unchecked: immutable after init.
    private let appender: MarkerAppender
    private let coordinatorOwner: any LogOwnerExecutor

    init(appender: MarkerAppender, coordinatorOwner: any LogOwnerExecutor) {
        self.appender = appender
        self.coordinatorOwner = coordinatorOwner
    }

    func write(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, partitions: [TopicPartitionKey],
               completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void) {
        let answers = MarkerAnswers(count: partitions.count, owner: coordinatorOwner, completion: completion)
        for key in partitions {
            appender.append(marker, producerId: producerId, producerEpoch: producerEpoch, on: key) { answers.finish(key, $0) }
        }
    }
}

/// The partitions' answers to one marker write, handed to the coordinator's owner when the
/// last is in.
final class MarkerAnswers: @unchecked Sendable {
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
