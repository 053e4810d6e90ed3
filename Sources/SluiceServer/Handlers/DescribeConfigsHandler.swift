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
        let registry = request.broker.registry
        let unknown = body.resources.filter {
            $0.resourceType == ConfigResourceType.topic && TopicName.validationError($0.resourceName) == nil
                && registry.topic(named: $0.resourceName) == nil
        }.map(\.resourceName)
        guard request.broker.cluster != nil, !unknown.isEmpty else { return try answer(request, body) }
        // In a cluster a topic just created through another broker may reach this one's metadata
        // a moment later (an admin client asks any broker): give it that moment.
        let promise = request.eventLoop.makePromise(of: Void.self)
        promise.completeWithTask {
            let deadline = ContinuousClock.now + .seconds(1)
            while ContinuousClock.now < deadline, unknown.contains(where: { registry.topic(named: $0) == nil }) {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return promise.futureResult.flatMap { _ in
            do {
                return try answer(request, body)
            } catch {
                return request.eventLoop.makeFailedFuture(error)
            }
        }
    }

    private static func answer(_ request: RequestContext, _ body: DescribeConfigsRequest) throws -> EventLoopFuture<OutgoingResponse?> {
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
