import KafkaProtocol
import NIOCore
import SluiceCore

/// The transactions admin APIs (kafka-transactions.sh): DescribeTransactions v0 and
/// ListTransactions v0–1 from the transaction coordinator, DescribeProducers v0 from each
/// partition's leader (its producer state).
enum TransactionAdminHandlers {
    static func describeTransactions(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeTransactionsRequest.self)
        @Sendable func failed(_ id: String, _ code: KafkaErrorCode) -> DescribeTransactionsResponse.TransactionState {
            .init(errorCode: code.rawValue, transactionalId: id, transactionState: "", transactionTimeoutMs: 0,
                  transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [])
        }
        // Each id from its coordinator here, or the reason there is none (NOT_COORDINATOR...).
        let lookups = body.transactionalIds.map { ($0, request.broker.transactions.lookup($0)) }
        return request.onTransactionCoordinators { respond in
            respond(DescribeTransactionsResponse(transactionStates: lookups.map { id, lookup in
                guard case .served(let coordinator) = lookup else {
                    if case .refused(let code) = lookup { return failed(id, code) }
                    return failed(id, .coordinatorNotAvailable)
                }
                guard let metadata = coordinator.describe([id]).first?.1, metadata.state != .dead else {
                    return failed(id, .transactionalIdNotFound)
                }
                var byTopic: [String: [Int32]] = [:]
                for partition in metadata.partitions { byTopic[partition.topic, default: []].append(partition.partition) }
                return .init(errorCode: 0, transactionalId: id, transactionState: metadata.state.name, transactionTimeoutMs: metadata.timeoutMs,
                             transactionStartTimeMs: metadata.startTimestampMs, producerId: metadata.producerId,
                             producerEpoch: metadata.producerEpoch,
                             topics: byTopic.keys.sorted().map { .init(topic: $0, partitions: byTopic[$0]!.sorted()) })
            }))
        }
    }

    /// Every broker answers for the transactions its coordinators hold (kafka-transactions.sh
    /// asks them all).
    static func listTransactions(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(ListTransactionsRequest.self)
        let durationFilter = request.version >= 1 ? body.durationFilter : -1
        let known = Set(TransactionState.allCases.map(\.name))
        let unknown = body.stateFilters.filter { !known.contains($0) }
        let now = request.broker.nowMs()
        let coordinators = request.broker.transactions.all
        return request.onTransactionCoordinators { (respond: @escaping @Sendable (ListTransactionsResponse) -> Void) in
            let listed = coordinators.flatMap { $0.list(states: body.stateFilters, producerIds: body.producerIdFilters) }
                .filter { durationFilter < 0 || now - $0.startTimestampMs >= durationFilter }
            respond(ListTransactionsResponse(errorCode: 0, unknownStateFilters: unknown, transactionStates: listed.map {
                .init(transactionalId: $0.transactionalId, producerId: $0.producerId, transactionState: $0.state.name)
            }))
        }
    }

    static func describeProducers(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeProducersRequest.self)
        let registry = request.broker.registry
        var lookups: [EventLoopFuture<(String, DescribeProducersResponse.PartitionResponse)>] = []
        for topic in body.topics {
            for index in topic.partitionIndexes {
                let name = topic.name
                guard let partition = registry.partition(topic: name, index: index) else {
                    lookups.append(request.eventLoop.makeSucceededFuture((name, .init(
                        partitionIndex: index, errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue,
                        errorMessage: "This server does not host this topic-partition.", activeProducers: []))))
                    continue
                }
                let loop = (partition.owner as? EventLoopOwner)?.eventLoop ?? request.eventLoop
                lookups.append(loop.submit {
                    switch partition.leaderLog(currentLeaderEpoch: -1) {
                    case .failure(let code):
                        return (name, .init(partitionIndex: index, errorCode: code.rawValue, errorMessage: nil, activeProducers: []))
                    case .success(let log):
                        let producers = log.producerState.producers.sorted { $0.key < $1.key }.map { id, producer in
                            DescribeProducersResponse.ProducerState(
                                producerId: id, producerEpoch: Int32(producer.epoch), lastSequence: producer.batches.last?.lastSequence ?? -1,
                                lastTimestamp: producer.lastTimestamp, coordinatorEpoch: producer.coordinatorEpoch,
                                currentTxnStartOffset: producer.currentTxnFirstOffset ?? -1)
                        }
                        return (name, .init(partitionIndex: index, errorCode: 0, errorMessage: nil, activeProducers: producers))
                    }
                }.hop(to: request.eventLoop))
            }
        }
        return EventLoopFuture.whenAllSucceed(lookups, on: request.eventLoop).flatMap { results in
            var order: [String] = []
            var byTopic: [String: [DescribeProducersResponse.PartitionResponse]] = [:]
            for (name, partition) in results {
                if byTopic[name] == nil { order.append(name) }
                byTopic[name, default: []].append(partition)
            }
            return request.respond(DescribeProducersResponse(topics: order.map { .init(name: $0, partitions: byTopic[$0]!) }))
        }
    }
}
