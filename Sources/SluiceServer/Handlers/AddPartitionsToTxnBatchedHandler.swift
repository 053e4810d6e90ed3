import KafkaProtocol
import NIOCore
import SluiceCore
import Synchronization

/// AddPartitionsToTxn v4, the brokers' batched form (KIP-890 part 1): several transactions per
/// request, each answered by its coordinator here (or with the reason there is none). With
/// `verifyOnly` nothing is added: each partition is answered with whether it is in the
/// producer's open transaction, which a partition leader asks before it takes the first
/// transactional write of a producer (`TransactionVerifier`).
enum AddPartitionsToTxnBatchedHandler {
    static func handle(_ request: RequestContext, _ body: AddPartitionsToTxnRequest) -> EventLoopFuture<OutgoingResponse?> {
        let lookups = body.transactions.map { ($0, request.broker.transactions.lookup($0.transactionalId)) }
        let registry = request.broker.registry
        return request.onTransactionCoordinators { (respond: @escaping @Sendable (AddPartitionsToTxnResponse) -> Void) in
            let results = Mutex<(remaining: Int, answers: [Int: [TopicPartitionKey: KafkaErrorCode]])>((lookups.count, [:]))
            @Sendable func finish(_ index: Int, _ answer: [TopicPartitionKey: KafkaErrorCode]) {
                let done = results.withLock { state -> [Int: [TopicPartitionKey: KafkaErrorCode]]? in
                    state.answers[index] = answer
                    state.remaining -= 1
                    return state.remaining == 0 ? state.answers : nil
                }
                guard let done else { return }
                respond(AddPartitionsToTxnResponse(resultsByTransaction: lookups.enumerated().map { index, entry in
                    .init(transactionalId: entry.0.transactionalId, topicResults: entry.0.topics.map { topic in
                        .init(name: topic.name, resultsByPartition: topic.partitions.map {
                            .init(partitionIndex: $0,
                                  partitionErrorCode: (done[index]?[TopicPartitionKey(topic: topic.name, partition: $0)] ?? .unknownServerError).rawValue)
                        })
                    })
                }))
            }
            guard !lookups.isEmpty else {
                return respond(AddPartitionsToTxnResponse())
            }
            for (index, (transaction, lookup)) in lookups.enumerated() {
                let partitions = transaction.topics.flatMap { topic in topic.partitions.map { TopicPartitionKey(topic: topic.name, partition: $0) } }
                func all(_ code: KafkaErrorCode) -> [TopicPartitionKey: KafkaErrorCode] {
                    Dictionary(partitions.map { ($0, code) }, uniquingKeysWith: { first, _ in first })
                }
                switch lookup {
                case .refused(let code):
                    finish(index, all(code))
                case .served(let coordinator) where transaction.verifyOnly:
                    let open = coordinator.openTransaction(transaction.transactionalId)
                    finish(index, Dictionary(partitions.map { partition in
                        (partition, TransactionMetadata.verificationError(open, producerId: transaction.producerId,
                                                                          producerEpoch: transaction.producerEpoch, partition: partition) ?? .none)
                    }, uniquingKeysWith: { first, _ in first }))
                case .served(let coordinator):
                    if let refusals = TransactionHandlers.unknownPartitionRefusals(partitions, registry: registry) {
                        finish(index, refusals)
                        continue
                    }
                    coordinator.addPartitions(transactionalId: transaction.transactionalId, producerId: transaction.producerId,
                                              producerEpoch: transaction.producerEpoch, partitions: partitions) { finish(index, all($0)) }
                }
            }
        }
    }
}
