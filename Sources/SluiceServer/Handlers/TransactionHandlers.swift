import KafkaProtocol
import NIOCore
import SluiceCore

/// The transactional producer's requests to its transaction coordinator: AddPartitionsToTxn
/// v0–3 (v4+ is the brokers' batched form), AddOffsetsToTxn v0–4 and EndTxn v0–4 (v5 is
/// KIP-890's part 2), each on the coordinator's event loop; and TxnOffsetCommit v0–4 to the
/// group coordinator, once the transaction coordinator confirms the group's offsets are in the
/// open transaction. A broker of its own coordinates every transactional
/// id; a cluster refuses transactional ids (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) until the
/// coordinator moves onto `__transaction_state`.
enum TransactionHandlers {
    /// Versions before PRODUCER_FENCED existed hear INVALID_PRODUCER_EPOCH, as Kafka answers them.
    static func compatible(_ code: KafkaErrorCode, version: Int16, fencedSince: Int16) -> KafkaErrorCode {
        code == .producerFenced && version < fencedSince ? .invalidProducerEpoch : code
    }

    static func addPartitions(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AddPartitionsToTxnRequest.self)
        let version = request.version
        @Sendable func answer(_ code: (String, Int32) -> KafkaErrorCode) -> AddPartitionsToTxnResponse {
            AddPartitionsToTxnResponse(resultsByTopicV3AndBelow: body.v3AndBelowTopics.map { topic in
                .init(name: topic.name, resultsByPartition: topic.partitions.map {
                    .init(partitionIndex: $0, partitionErrorCode: code(topic.name, $0).rawValue)
                })
            })
        }
        guard let coordinator = request.broker.transactions else {
            return request.respond(answer { _, _ in .coordinatorNotAvailable })
        }
        // Partitions of unknown topics are refused, and then none is added (Kafka's rule).
        let registry = request.broker.registry
        let unknown = Set(body.v3AndBelowTopics.flatMap { topic in
            topic.partitions.filter { registry.partition(topic: topic.name, index: $0) == nil }.map { TopicPartitionKey(topic: topic.name, partition: $0) }
        })
        if !unknown.isEmpty {
            return request.respond(answer { unknown.contains(TopicPartitionKey(topic: $0, partition: $1)) ? .unknownTopicOrPartition : .operationNotAttempted })
        }
        let partitions = body.v3AndBelowTopics.flatMap { topic in topic.partitions.map { TopicPartitionKey(topic: topic.name, partition: $0) } }
        return request.withTransactions(coordinator) { (coordinator, respond: @escaping @Sendable (AddPartitionsToTxnResponse) -> Void) in
            coordinator.addPartitions(transactionalId: body.v3AndBelowTransactionalId, producerId: body.v3AndBelowProducerId,
                                      producerEpoch: body.v3AndBelowProducerEpoch, partitions: partitions) { code in
                respond(answer { _, _ in compatible(code, version: version, fencedSince: 2) })
            }
        }
    }

    /// Where a group's transactional offsets go on a broker of its own: its one group log,
    /// named as partition 0 of `__consumer_offsets` (a cluster's will be the group's partition).
    static let offsetsPartition = TopicPartitionKey(topic: OffsetsTopicStore.topic, partition: 0)

    static func addOffsets(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AddOffsetsToTxnRequest.self)
        let version = request.version
        guard let coordinator = request.broker.transactions else {
            return request.respond(AddOffsetsToTxnResponse(errorCode: KafkaErrorCode.coordinatorNotAvailable.rawValue))
        }
        guard !body.groupId.isEmpty else { return request.respond(AddOffsetsToTxnResponse(errorCode: KafkaErrorCode.invalidGroupId.rawValue)) }
        return request.withTransactions(coordinator) { (coordinator, respond: @escaping @Sendable (AddOffsetsToTxnResponse) -> Void) in
            coordinator.addPartitions(transactionalId: body.transactionalId, producerId: body.producerId, producerEpoch: body.producerEpoch,
                                      partitions: [offsetsPartition]) { code in
                respond(AddOffsetsToTxnResponse(errorCode: compatible(code, version: version, fencedSince: 2).rawValue))
            }
        }
    }

    static func commitOffsets(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(TxnOffsetCommitRequest.self)
        let version = request.version
        @Sendable func answer(_ code: (TopicPartitionKey) -> KafkaErrorCode) -> TxnOffsetCommitResponse {
            TxnOffsetCommitResponse(topics: body.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map {
                    .init(partitionIndex: $0.partitionIndex, errorCode: code(TopicPartitionKey(topic: topic.name, partition: $0.partitionIndex)).rawValue)
                })
            })
        }
        guard let transactions = request.broker.transactions else { return request.respond(answer { _ in .coordinatorNotAvailable }) }
        let entries = body.topics.flatMap { topic in
            topic.partitions.map {
                OffsetCommitEntry(partition: TopicPartitionKey(topic: topic.name, partition: $0.partitionIndex), offset: $0.committedOffset,
                                  leaderEpoch: version >= 2 ? $0.committedLeaderEpoch : -1, metadata: $0.committedMetadata)
            }
        }
        let groups = request.broker.groups
        let promise = request.eventLoop.makePromise(of: OutgoingResponse?.self)
        let correlationId = request.correlationId
        @Sendable func send(_ response: TxnOffsetCommitResponse) {
            promise.completeWith(Result { try OutgoingResponse.encode(response, version: version, correlationId: correlationId) })
        }
        // KIP-890 part 1: the group's offsets must be in the producer's open transaction.
        transactions.owner.execute {
            if let refusal = TransactionMetadata.verificationError(
                transactions.openTransaction(body.transactionalId), producerId: body.producerId, producerEpoch: body.producerEpoch,
                partition: offsetsPartition) {
                return send(answer { _ in refusal })
            }
            groups.owner.execute {
                groups.commitTransactionalOffsets(
                    groupId: body.groupId, producerId: body.producerId, producerEpoch: body.producerEpoch,
                    generationId: version >= 3 ? body.generationId : -1, memberId: version >= 3 ? body.memberId : "",
                    groupInstanceId: version >= 3 ? body.groupInstanceId : nil, entries: entries) { errors in
                    send(answer { errors[$0] ?? .none })
                }
            }
        }
        return promise.futureResult
    }

    static func endTransaction(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(EndTxnRequest.self)
        let version = request.version
        guard let coordinator = request.broker.transactions else {
            return request.respond(EndTxnResponse(errorCode: KafkaErrorCode.coordinatorNotAvailable.rawValue))
        }
        return request.withTransactions(coordinator) { (coordinator, respond: @escaping @Sendable (EndTxnResponse) -> Void) in
            coordinator.endTransaction(transactionalId: body.transactionalId, producerId: body.producerId, producerEpoch: body.producerEpoch,
                                       commit: body.committed) { code in
                respond(EndTxnResponse(errorCode: compatible(code, version: version, fencedSince: 2).rawValue))
            }
        }
    }

    /// InitProducerId with a transactional id (the idempotent case stays in InitProducerIdHandler).
    static func initProducerId(_ request: RequestContext, _ body: InitProducerIdRequest, transactionalId: String) -> EventLoopFuture<OutgoingResponse?> {
        let version = request.version
        guard let coordinator = request.broker.transactions else {
            // A cluster: refused outright (a retriable error would have clients retry forever).
            return request.respond(InitProducerIdResponse(errorCode: KafkaErrorCode.transactionalIdAuthorizationFailed.rawValue,
                                                          producerId: -1, producerEpoch: -1))
        }
        let expected = version >= 3 && body.producerId >= 0 ? (producerId: body.producerId, epoch: body.producerEpoch) : nil
        return request.withTransactions(coordinator) { (coordinator, respond: @escaping @Sendable (InitProducerIdResponse) -> Void) in
            coordinator.initProducerId(transactionalId: transactionalId, timeoutMs: body.transactionTimeoutMs, expected: expected) { result in
                switch result {
                case .success(let (producerId, epoch)):
                    respond(InitProducerIdResponse(errorCode: 0, producerId: producerId, producerEpoch: epoch))
                case .failure(let code):
                    respond(InitProducerIdResponse(errorCode: compatible(code, version: version, fencedSince: 4).rawValue,
                                                   producerId: -1, producerEpoch: -1))
                }
            }
        }
    }
}
