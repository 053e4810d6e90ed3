import KafkaProtocol

/// A transactional id as ListTransactions lists it.
public struct TransactionListing: Hashable, Sendable {
    public var transactionalId: String
    public var producerId: Int64
    public var state: String
}

/// A transactional id's transaction as DescribeTransactions describes it.
public struct TransactionDescription: Hashable, Sendable {
    public var transactionalId: String
    public var state: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var timeoutMs: Int32
    /// When the open transaction began (-1: none open).
    public var startTimeMs: Int64
    public var partitions: [TopicPartition]
}

/// A producer's state on one partition, as DescribeProducers reports it.
public struct ProducerDescription: Hashable, Sendable {
    public var producerId: Int64
    public var producerEpoch: Int32
    public var lastSequence: Int32
    public var lastTimestampMs: Int64
    public var coordinatorEpoch: Int32
    /// Where its open transaction began on the partition (-1: none).
    public var currentTransactionStartOffset: Int64
}

/// The transactions admin calls of kafka-transactions.sh: list, describe, describe-producers.
extension KafkaAdmin {
    /// Every broker's transactions, filtered by state names and producer ids (empty: all).
    public func listTransactions(states: [String] = [], producerIds: [Int64] = []) async throws -> [TransactionListing] {
        var all: [TransactionListing] = []
        try await cluster.refreshMetadata(topics: [])
        for (node, _) in await cluster.knownBrokers() {
            let (response, _) = try await cluster.connection(toNode: node).send(
                ListTransactionsRequest(stateFilters: states, producerIdFilters: producerIds), versions: 0...1, timeout: requestTimeout)
            guard response.errorCode == 0 else { throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode), "ListTransactions") }
            all += response.transactionStates.map { .init(transactionalId: $0.transactionalId, producerId: $0.producerId, state: $0.transactionState) }
        }
        return all.sorted { $0.transactionalId < $1.transactionalId }
    }

    public func describeTransaction(_ transactionalId: String) async throws -> TransactionDescription {
        let connection = try await cluster.transactionCoordinator(for: transactionalId)
        let (response, _) = try await connection.send(DescribeTransactionsRequest(transactionalIds: [transactionalId]), versions: 0...0,
                                                      timeout: requestTimeout)
        guard let state = response.transactionStates.first else {
            throw KafkaClientError(kind: .protocolViolation, message: "empty DescribeTransactions answer")
        }
        guard state.errorCode == 0 else {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: state.errorCode), "transactional id \(transactionalId)")
        }
        return TransactionDescription(
            transactionalId: state.transactionalId, state: state.transactionState, producerId: state.producerId, producerEpoch: state.producerEpoch,
            timeoutMs: state.transactionTimeoutMs, startTimeMs: state.transactionStartTimeMs,
            partitions: state.topics.flatMap { topic in topic.partitions.map { TopicPartition(topic.topic, $0) } })
    }

    /// The producers a partition's leader knows, with their open transactions.
    public func describeProducers(topic: String, partition: Int32) async throws -> [ProducerDescription] {
        let metadata = try await cluster.topic(topic)
        guard let leader = metadata.partitions.first(where: { $0.index == partition })?.leader else {
            throw KafkaClientError.broker(.unknownTopicOrPartition, "\(topic)[\(partition)]")
        }
        let request = DescribeProducersRequest(topics: [.init(name: topic, partitionIndexes: [partition])])
        let (response, _) = try await cluster.connection(toNode: leader).send(request, versions: 0...0, timeout: requestTimeout)
        guard let answer = response.topics.first?.partitions.first else {
            throw KafkaClientError(kind: .protocolViolation, message: "empty DescribeProducers answer")
        }
        guard answer.errorCode == 0 else {
            await cluster.invalidate(topic: topic)
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: answer.errorCode), "\(topic)[\(partition)]")
        }
        return answer.activeProducers.map {
            .init(producerId: $0.producerId, producerEpoch: $0.producerEpoch, lastSequence: $0.lastSequence, lastTimestampMs: $0.lastTimestamp,
                  coordinatorEpoch: $0.coordinatorEpoch, currentTransactionStartOffset: $0.currentTxnStartOffset)
        }
    }
}
