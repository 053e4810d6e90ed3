import KafkaProtocol
import NIOCore
import SluiceCore

/// CreateTopics v2–7: names, partition counts, replication factor (at most the one broker),
/// configs; validate-only; per-topic errors as Kafka gives them.
enum CreateTopicsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(CreateTopicsRequest.self)
        let registry = request.broker.registry
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
        return request.respond(CreateTopicsResponse(topics: results))
    }

    /// v5+ echoes the topic's configs as they are in force.
    static func describeConfigs(_ overrides: [String: String], request: RequestContext) -> [CreateTopicsResponse.CreatableTopicConfigs]? {
        guard request.version >= 5 else { return nil }
        return TopicConfigs.definitions.map { definition in
            let (value, source) = TopicConfigs.effectiveValue(definition.name, overrides: overrides, broker: request.broker.config)
            return .init(name: definition.name, value: value, readOnly: false, configSource: source.rawValue, isSensitive: false)
        }
    }
}
