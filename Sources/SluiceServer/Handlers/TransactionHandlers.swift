import KafkaProtocol
import NIOCore
import SluiceCore

/// The transactional producer's requests to its transaction coordinator: AddPartitionsToTxn
/// v0–3 (v4, the brokers' batched form, in `AddPartitionsToTxnBatchedHandler`), AddOffsetsToTxn v0–4 and EndTxn v0–4 (v5 is
/// KIP-890's part 2), each on the coordinator's event loop; and TxnOffsetCommit v0–4 to the
/// group coordinator, once the transaction coordinator confirms the group's offsets are in the
/// open transaction. A broker of its own coordinates every transactional id; in a cluster the
/// leader of the id's `__transaction_state` partition does (`TransactionCoordinators`), and
/// others answer NOT_COORDINATOR.
enum TransactionHandlers {
    /// Versions before PRODUCER_FENCED existed hear INVALID_PRODUCER_EPOCH, as Kafka answers them.
    static func compatible(_ code: KafkaErrorCode, version: Int16, fencedSince: Int16) -> KafkaErrorCode {
        code == .producerFenced && version < fencedSince ? .invalidProducerEpoch : code
    }

    static func addPartitions(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AddPartitionsToTxnRequest.self)
        let version = request.version
        if version >= 4 { return AddPartitionsToTxnBatchedHandler.handle(request, body) }
        @Sendable func answer(_ code: (String, Int32) -> KafkaErrorCode) -> AddPartitionsToTxnResponse {
            AddPartitionsToTxnResponse(resultsByTopicV3AndBelow: body.v3AndBelowTopics.map { topic in
                .init(name: topic.name, resultsByPartition: topic.partitions.map {
                    .init(partitionIndex: $0, partitionErrorCode: code(topic.name, $0).rawValue)
                })
            })
        }
        let partitions = body.v3AndBelowTopics.flatMap { topic in topic.partitions.map { TopicPartitionKey(topic: topic.name, partition: $0) } }
        if let refusals = unknownPartitionRefusals(partitions, registry: request.broker.registry) {
            return request.respond(answer { refusals[TopicPartitionKey(topic: $0, partition: $1)] ?? .operationNotAttempted })
        }
        return request.withTransactions(of: body.v3AndBelowTransactionalId, refused: { code in answer { _, _ in code } }) {
            (coordinator, respond: @escaping @Sendable (AddPartitionsToTxnResponse) -> Void) in
            coordinator.addPartitions(transactionalId: body.v3AndBelowTransactionalId, producerId: body.v3AndBelowProducerId,
                                      producerEpoch: body.v3AndBelowProducerEpoch, partitions: partitions) { code in
                respond(answer { _, _ in compatible(code, version: version, fencedSince: 2) })
            }
        }
    }

    /// Partitions of unknown topics are refused, and then none is added (Kafka's rule): each
    /// partition's answer, or nil when every one exists.
    static func unknownPartitionRefusals(_ partitions: [TopicPartitionKey], registry: TopicRegistry) -> [TopicPartitionKey: KafkaErrorCode]? {
        let unknown = partitions.filter { registry.partition(topic: $0.topic, index: $0.partition) == nil }
        guard !unknown.isEmpty else { return nil }
        var answers = Dictionary(partitions.map { ($0, KafkaErrorCode.operationNotAttempted) }, uniquingKeysWith: { first, _ in first })
        for partition in unknown { answers[partition] = .unknownTopicOrPartition }
        return answers
    }

    static func addOffsets(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AddOffsetsToTxnRequest.self)
        let version = request.version
        guard !body.groupId.isEmpty else { return request.respond(AddOffsetsToTxnResponse(errorCode: KafkaErrorCode.invalidGroupId.rawValue)) }
        let offsetsPartition = request.broker.transactions.offsetsPartition(forGroup: body.groupId)
        return request.withTransactions(of: body.transactionalId, refused: { AddOffsetsToTxnResponse(errorCode: $0.rawValue) }) {
            (coordinator, respond: @escaping @Sendable (AddOffsetsToTxnResponse) -> Void) in
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
        let commit: @Sendable () -> Void = {
            groups.owner.execute {
                groups.commitTransactionalOffsets(
                    groupId: body.groupId, producerId: body.producerId, producerEpoch: body.producerEpoch,
                    generationId: version >= 3 ? body.generationId : -1, memberId: version >= 3 ? body.memberId : "",
                    groupInstanceId: version >= 3 ? body.groupInstanceId : nil, entries: entries) { errors in
                    send(answer { errors[$0] ?? .none })
                }
            }
        }
        // KIP-890 part 1: the group's offsets must be in the producer's open transaction. Only
        // asked where the transaction's coordinator is this broker too; the group's partition
        // refuses a fenced producer epoch either way.
        guard case .served(let transactions) = request.broker.transactions.lookup(body.transactionalId) else {
            commit()
            return promise.futureResult
        }
        let offsetsPartition = request.broker.transactions.offsetsPartition(forGroup: body.groupId)
        transactions.owner.execute {
            if let refusal = TransactionMetadata.verificationError(
                transactions.openTransaction(body.transactionalId), producerId: body.producerId, producerEpoch: body.producerEpoch,
                partition: offsetsPartition) {
                return send(answer { _ in refusal })
            }
            commit()
        }
        return promise.futureResult
    }

    static func endTransaction(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(EndTxnRequest.self)
        let version = request.version
        return request.withTransactions(of: body.transactionalId, refused: { EndTxnResponse(errorCode: $0.rawValue) }) {
            (coordinator, respond: @escaping @Sendable (EndTxnResponse) -> Void) in
            coordinator.endTransaction(transactionalId: body.transactionalId, producerId: body.producerId, producerEpoch: body.producerEpoch,
                                       commit: body.committed) { code in
                respond(EndTxnResponse(errorCode: compatible(code, version: version, fencedSince: 2).rawValue))
            }
        }
    }

    /// InitProducerId with a transactional id (the idempotent case stays in InitProducerIdHandler).
    static func initProducerId(_ request: RequestContext, _ body: InitProducerIdRequest, transactionalId: String) -> EventLoopFuture<OutgoingResponse?> {
        let version = request.version
        let expected = version >= 3 && body.producerId >= 0 ? (producerId: body.producerId, epoch: body.producerEpoch) : nil
        return request.withTransactions(of: transactionalId, refused: { InitProducerIdResponse(errorCode: $0.rawValue, producerId: -1, producerEpoch: -1) }) {
            (coordinator, respond: @escaping @Sendable (InitProducerIdResponse) -> Void) in
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
