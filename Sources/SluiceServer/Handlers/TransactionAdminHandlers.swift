import KafkaProtocol
import NIOCore
import SluiceCore

/// The transactions admin APIs (kafka-transactions.sh): DescribeTransactions v0 and
/// ListTransactions v0–1 from the transaction coordinator, DescribeProducers v0 from each
/// partition's leader (its producer state).
enum TransactionAdminHandlers {
    static func describeTransactions(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeTransactionsRequest.self)
        guard let coordinator = request.broker.transactions else {
            return request.respond(DescribeTransactionsResponse(transactionStates: body.transactionalIds.map {
                .init(errorCode: KafkaErrorCode.coordinatorNotAvailable.rawValue, transactionalId: $0, transactionState: "",
                      transactionTimeoutMs: 0, transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [])
            }))
        }
        return request.withTransactions(coordinator) { (coordinator, respond: @escaping @Sendable (DescribeTransactionsResponse) -> Void) in
            respond(DescribeTransactionsResponse(transactionStates: coordinator.describe(body.transactionalIds).map { id, metadata in
                guard let metadata, metadata.state != .dead else {
                    return .init(errorCode: KafkaErrorCode.transactionalIdNotFound.rawValue, transactionalId: id, transactionState: "",
                                 transactionTimeoutMs: 0, transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [])
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

    static func listTransactions(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(ListTransactionsRequest.self)
        let durationFilter = request.version >= 1 ? body.durationFilter : -1
        let known = Set(TransactionState.allCases.map(\.name))
        let unknown = body.stateFilters.filter { !known.contains($0) }
        guard let coordinator = request.broker.transactions else {
            return request.respond(ListTransactionsResponse(errorCode: KafkaErrorCode.coordinatorNotAvailable.rawValue))
        }
        let now = request.broker.nowMs()
        return request.withTransactions(coordinator) { (coordinator, respond: @escaping @Sendable (ListTransactionsResponse) -> Void) in
            let listed = coordinator.list(states: body.stateFilters, producerIds: body.producerIdFilters)
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
