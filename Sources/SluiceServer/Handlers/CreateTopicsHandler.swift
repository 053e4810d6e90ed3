import KafkaProtocol
import NIOCore
import SluiceCore

/// CreateTopics v2–7: names, partition counts, replication factor (at most the one broker),
/// configs; validate-only; per-topic errors as Kafka gives them. A topic still being deleted
/// (DeleteTopics of the same name just before, on this or another connection) is created once
/// its old directories are out of the way.
enum CreateTopicsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(CreateTopicsRequest.self)
        if let cluster = request.broker.cluster {
            // The controller decides; answered once this broker's image has the created topics.
            return request.forwardToController(body, cluster: cluster, retryWhen: { response in
                !response.topics.isEmpty && response.topics.allSatisfy { $0.errorCode == KafkaErrorCode.notController.rawValue }
            }, settled: { response in
                let created = response.topics.filter { $0.errorCode == 0 && $0.topicId != .zero }.map(\.name)
                return { image in created.allSatisfy { image.topic(named: $0) != nil } }
            }, failed: { reason in
                CreateTopicsResponse(topics: body.topics.map {
                    .init(name: $0.name, errorCode: KafkaErrorCode.requestTimedOut.rawValue, errorMessage: reason)
                })
            })
        }
        let promise = request.eventLoop.makePromise(of: OutgoingResponse?.self)
        request.broker.registry.afterDeletions(of: body.topics.map(\.name)) {
            promise.completeWith(request.respond(create(body, request: request)))
        }
        return promise.futureResult
    }

    /// Kafka's controller refuses an operation that would write more metadata records than
    /// this (QuorumController's MAX_RECORDS_PER_USER_OP): every topic of the request fails.
    static let maxRecordsPerRequest = 10_000

    /// The answer to a request that would write more than `maxRecordsPerRequest` records (a topic
    /// record, one per partition and one per config, as the controller writes them), or nil.
    static func refusedAsTooLarge(_ body: CreateTopicsRequest, defaultPartitions: Int) -> CreateTopicsResponse? {
        let records = body.topics.reduce(0) { total, topic in
            let partitions = topic.assignments.isEmpty ? (topic.numPartitions == -1 ? defaultPartitions : Int(max(0, topic.numPartitions)))
                : topic.assignments.count
            return total + 1 + partitions + topic.configs.count
        }
        guard records > maxRecordsPerRequest else { return nil }
        return CreateTopicsResponse(topics: body.topics.map {
            .init(name: $0.name, errorCode: KafkaErrorCode.policyViolation.rawValue,
                  errorMessage: "Unable to perform excessively large batch operation.")
        })
    }

    private static func create(_ body: CreateTopicsRequest, request: RequestContext) -> CreateTopicsResponse {
        let registry = request.broker.registry
        if let refused = refusedAsTooLarge(body, defaultPartitions: request.broker.config.int("num.partitions")) { return refused }
        var results: [CreateTopicsResponse.CreatableTopicResult] = []
        var seen = Set<String>()
        for wanted in body.topics {
            guard seen.insert(wanted.name).inserted else {
                results.append(.init(name: wanted.name, errorCode: KafkaErrorCode.invalidRequest.rawValue,
                                     errorMessage: "Create topics request from client contains a duplicate topic"))
                continue
            }
            if !wanted.assignments.isEmpty {
                let brokers = Set(wanted.assignments.flatMap(\.brokerIds))
                if brokers != [request.broker.nodeId] || wanted.numPartitions != -1 || wanted.replicationFactor != -1 {
                    results.append(.init(name: wanted.name, errorCode: KafkaErrorCode.invalidReplicaAssignment.rawValue,
                                         errorMessage: "Replica assignment must name only broker \(request.broker.nodeId), with partitions and replication factor -1"))
                    continue
                }
            }
            let nulls = wanted.configs.filter { $0.value == nil }.map(\.name)
            guard nulls.isEmpty else {
                results.append(.init(name: wanted.name, errorCode: KafkaErrorCode.invalidConfig.rawValue,
                                     errorMessage: "Null value not supported for topic configs: \(nulls.joined(separator: ","))"))
                continue
            }
            var configs: [String: String] = [:]
            for config in wanted.configs { configs[config.name] = config.value }
            let partitions = wanted.assignments.isEmpty ? wanted.numPartitions : Int32(wanted.assignments.count)
            let replication: Int16 = wanted.assignments.isEmpty ? wanted.replicationFactor : 1
            do {
                let topic = try registry.createTopic(name: wanted.name, partitions: partitions, replicationFactor: replication,
                                                     configs: configs, validateOnly: body.validateOnly)
                results.append(.init(name: wanted.name, topicId: body.validateOnly ? .zero : topic.id, errorCode: 0,
                                     numPartitions: partitions == -1 ? Int32(request.broker.config.int("num.partitions")) : partitions,
                                     replicationFactor: 1, configs: describeConfigs(configs, request: request)))
            } catch {
                results.append(.init(name: wanted.name, errorCode: error.code.rawValue, errorMessage: error.message))
            }
        }
        return CreateTopicsResponse(topics: results)
    }

    /// v5+ echoes the topic's configs as they are in force.
    static func describeConfigs(_ overrides: [String: String], request: RequestContext) -> [CreateTopicsResponse.CreatableTopicConfigs]? {
        guard request.version >= 5 else { return nil }
        return ConfigDescriptions.createdTopic(overrides: TopicConfigs.normalized(overrides), broker: request.broker.config).map {
            .init(name: $0.name, value: $0.value, readOnly: $0.readOnly, configSource: $0.source.rawValue, isSensitive: $0.isSensitive)
        }
    }
}
