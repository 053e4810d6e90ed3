import KafkaProtocol
import NIOCore
import SluiceCore

/// Kafka's ConfigResource types.
enum ConfigResourceType {
    static let topic: Int8 = 2
    static let broker: Int8 = 4
}

/// DescribeConfigs v1–4: every topic config of a topic, or the settings of this broker (its id)
/// or of the dynamic cluster default (""), with Kafka's sources, synonyms (when asked),
/// read-only flags, types and documentation (when asked).
enum DescribeConfigsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeConfigsRequest.self)
        let broker = request.broker
        let config = broker.config
        var results: [DescribeConfigsResponse.DescribeConfigsResult] = []
        for resource in body.resources {
            // Null or empty: every config, as Kafka's ConfigHelper reads it.
            let keys = resource.configurationKeys.flatMap { $0.isEmpty ? nil : Set($0) }
            func failure(_ code: KafkaErrorCode, _ message: String?) -> DescribeConfigsResponse.DescribeConfigsResult {
                .init(errorCode: code.rawValue, errorMessage: message, resourceType: resource.resourceType, resourceName: resource.resourceName)
            }
            let entries: [ConfigDescription]
            switch resource.resourceType {
            case ConfigResourceType.topic:
                if let reason = TopicName.validationError(resource.resourceName) {
                    results.append(failure(.invalidTopicException, reason))
                    continue
                }
                guard let topic = broker.registry.topic(named: resource.resourceName) else {
                    results.append(failure(.unknownTopicOrPartition, "Topic \(resource.resourceName) does not exist."))
                    continue
                }
                entries = ConfigDescriptions.topic(overrides: topic.configs, broker: config, keys: keys)
            case ConfigResourceType.broker:
                switch DynamicBrokerConfigs.describeScope(resource.resourceName, nodeId: broker.nodeId) {
                case .failure(let error):
                    results.append(failure(error.code, error.message))
                    continue
                case .success(.clusterDefault):
                    entries = ConfigDescriptions.brokerDefaults(config, keys: keys)
                case .success(.broker):
                    entries = ConfigDescriptions.broker(config, keys: keys)
                }
            default:
                results.append(failure(.invalidRequest, "Unsupported resource type \(resource.resourceType)"))
                continue
            }
            results.append(.init(errorCode: 0, resourceType: resource.resourceType, resourceName: resource.resourceName,
                                 configs: entries.map { entry(for: $0, body: body) }))
        }
        return request.respond(DescribeConfigsResponse(results: results))
    }

    static func entry(for description: ConfigDescription, body: DescribeConfigsRequest) -> DescribeConfigsResponse.DescribeConfigsResourceResult {
        .init(name: description.name, value: description.value, readOnly: description.readOnly,
              configSource: description.source.rawValue,
              isSensitive: description.isSensitive,
              synonyms: body.includeSynonyms ? description.synonyms.map { .init(name: $0.name, value: $0.value, source: $0.source.rawValue) } : [],
              configType: description.type.rawValue,
              documentation: body.includeDocumentation ? description.documentation : nil)
    }
}
