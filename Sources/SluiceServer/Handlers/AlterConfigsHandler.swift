import KafkaProtocol
import NIOCore
import SluiceCore

/// AlterConfigs v0–2 (a resource's configs replaced by exactly the given set) and
/// IncrementalAlterConfigs v0–1 (SET, DELETE, APPEND and SUBTRACT on list configs), for topics
/// and for broker resources ("" for the cluster default, or this broker's id). Requests are
/// checked first as Kafka's brokers do (ConfigAdminManager.preprocess: a resource named twice,
/// a config named twice, null values), then each resource is validated as a whole and applied,
/// or only validated with validateOnly.
enum AlterConfigsHandler {
    /// One requested change, whichever API it came from.
    struct Change {
        let name: String
        let operation: TopicConfigs.Operation
        let value: String?
        /// An operation number Kafka does not define (the resource fails as a whole).
        var unknownOperation: Int8? = nil

        init(name: String, operation: TopicConfigs.Operation, value: String?) {
            self.name = name
            self.operation = operation
            self.value = value
        }

        static func unknown(_ operation: Int8) -> Change {
            var change = Change(name: "", operation: .set, value: "")
            change.unknownOperation = operation
            return change
        }
    }

    struct Outcome {
        var code: KafkaErrorCode = .none
        var message: String?
    }

    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AlterConfigsRequest.self)
        let resources = body.resources.map { resource in
            (resource.resourceType, resource.resourceName, resource.configs.map { Change(name: $0.name, operation: .set, value: $0.value) })
        }
        let outcomes = apply(resources, replace: true, validateOnly: body.validateOnly, request: request)
        return EventLoopFuture.whenAllSucceed(outcomes, on: request.eventLoop).flatMap { outcomes in
            request.respond(AlterConfigsResponse(responses: zip(body.resources, outcomes).map { resource, outcome in
                .init(errorCode: outcome.code.rawValue, errorMessage: outcome.message, resourceType: resource.resourceType,
                      resourceName: resource.resourceName)
            }))
        }
    }

    static func handleIncremental(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(IncrementalAlterConfigsRequest.self)
        let resources = body.resources.map { resource in
            (resource.resourceType, resource.resourceName, resource.configs.map { config in
                TopicConfigs.Operation(rawValue: config.configOperation).map { Change(name: config.name, operation: $0, value: config.value) }
                    ?? .unknown(config.configOperation)
            })
        }
        let outcomes = apply(resources, replace: false, validateOnly: body.validateOnly, request: request)
        return EventLoopFuture.whenAllSucceed(outcomes, on: request.eventLoop).flatMap { outcomes in
            request.respond(IncrementalAlterConfigsResponse(responses: zip(body.resources, outcomes).map { resource, outcome in
                .init(errorCode: outcome.code.rawValue, errorMessage: outcome.message, resourceType: resource.resourceType,
                      resourceName: resource.resourceName)
            }))
        }
    }

    private static func apply(_ resources: [(Int8, String, [Change])], replace: Bool, validateOnly: Bool,
                              request: RequestContext) -> [EventLoopFuture<Outcome>] {
        var seen: [String: Int] = [:]
        for (type, name, _) in resources { seen["\(type)/\(name)", default: 0] += 1 }
        return resources.map { resource -> EventLoopFuture<Outcome> in
            let (type, name, changes) = resource
            if let refused = preprocess(resource, seen: seen) { return request.eventLoop.makeSucceededFuture(refused) }
            switch type {
            case ConfigResourceType.topic:
                if let cluster = request.broker.cluster {
                    return alterTopicInCluster(name, changes, replace: replace, validateOnly: validateOnly, cluster: cluster, request: request)
                }
                return request.eventLoop.makeSucceededFuture(alterTopic(name, changes, replace: replace, validateOnly: validateOnly,
                                                                        request: request))
            case ConfigResourceType.broker:
                return request.eventLoop.makeSucceededFuture(alterBroker(name, changes, replace: replace, validateOnly: validateOnly,
                                                                         request: request))
            default:
                return request.eventLoop.makeSucceededFuture(Outcome(code: .invalidRequest, message: "Unknown resource type \(type)"))
            }
        }
    }

    /// Kafka's checks before any resource is looked at (ConfigAdminManager.preprocess); nil when they pass.
    private static func preprocess(_ resource: (Int8, String, [Change]), seen: [String: Int]) -> Outcome? {
        do {
            let (type, name, changes) = resource
            if seen["\(type)/\(name)", default: 0] > 1 {
                return Outcome(code: .invalidRequest, message: "Each resource must appear at most once.")
            }
            if let unknown = changes.first(where: { $0.unknownOperation != nil })?.unknownOperation {
                return Outcome(code: .invalidRequest, message: "Unknown operations type \(unknown)")
            }
            if Set(changes.map(\.name)).count != changes.count {
                return Outcome(code: .invalidRequest, message: "Error due to duplicate config keys")
            }
            let nulls = changes.filter { $0.value == nil && $0.operation != .delete }.map(\.name)
            if !nulls.isEmpty {
                return Outcome(code: .invalidRequest, message: "Null value not supported for : \(nulls.joined(separator: ", "))")
            }
            return nil
        }
    }

    /// In a cluster a topic's configs are ConfigRecords: the change is resolved and validated
    /// here against this broker's image, then sent to the controller as the explicit SETs and
    /// DELETEs that turn the current set into the new one (so APPEND, SUBTRACT and AlterConfigs'
    /// replace-all mean the same there), and answered once the records commit.
    private static func alterTopicInCluster(_ name: String, _ changes: [Change], replace: Bool, validateOnly: Bool,
                                            cluster: ClusterNode, request: RequestContext) -> EventLoopFuture<Outcome> {
        let loop = request.eventLoop
        let image = cluster.quorum.status.image
        guard image.topic(named: name) != nil else {
            return loop.makeSucceededFuture(Outcome(code: .unknownTopicOrPartition, message: "The topic '\(name)' does not exist."))
        }
        let current = image.configs[.init(type: 2, name: name)] ?? [:]
        let operations = changes.map { ($0.name, $0.operation, $0.value) }
        let updated: [String: String]
        switch replace ? TopicConfigs.applying(operations, to: [:]) : TopicConfigs.applying(operations, to: current) {
        case .failure(let error): return loop.makeSucceededFuture(Outcome(code: error.code, message: error.message))
        case .success(let configs): updated = TopicConfigs.normalized(configs)
        }
        if let reason = TopicConfigs.validationError(updated, broker: request.broker.config) {
            return loop.makeSucceededFuture(Outcome(code: .invalidConfig, message: reason))
        }
        if validateOnly { return loop.makeSucceededFuture(Outcome()) }
        var explicit: [IncrementalAlterConfigsRequest.AlterableConfig] = updated.sorted { $0.key < $1.key }
            .map { .init(name: $0.key, configOperation: TopicConfigs.Operation.set.rawValue, value: $0.value) }
        explicit += current.keys.filter { updated[$0] == nil }.sorted()
            .map { .init(name: $0, configOperation: TopicConfigs.Operation.delete.rawValue, value: nil) }
        let forwarded = IncrementalAlterConfigsRequest(resources: [.init(resourceType: ConfigResourceType.topic, resourceName: name,
                                                                         configs: explicit)])
        let promise = loop.makePromise(of: Outcome.self)
        promise.completeWithTask {
            do {
                let response = try await cluster.controller.send(forwarded, version: 1) {
                    $0.responses.first?.errorCode == KafkaErrorCode.notController.rawValue
                }
                guard let answer = response.responses.first else { return Outcome(code: .unknownServerError, message: "no answer") }
                if answer.errorCode == 0 {
                    await cluster.waitForImage(timeout: .seconds(5)) { ($0.configs[.init(type: 2, name: name)] ?? [:]) == updated }
                }
                return Outcome(code: KafkaErrorCode(rawValue: answer.errorCode), message: answer.errorMessage)
            } catch {
                return Outcome(code: .requestTimedOut, message: "\(error)")
            }
        }
        return promise.futureResult
    }

    private static func alterTopic(_ name: String, _ changes: [Change], replace: Bool, validateOnly: Bool,
                                   request: RequestContext) -> Outcome {
        let operations = changes.map { ($0.name, $0.operation, $0.value) }
        do {
            try request.broker.registry.alterConfigs(name: name, validateOnly: validateOnly) { current in
                replace ? TopicConfigs.applying(operations, to: [:]) : TopicConfigs.applying(operations, to: current)
            }
            return Outcome()
        } catch {
            return Outcome(code: error.code, message: error.message)
        }
    }

    private static func alterBroker(_ name: String, _ changes: [Change], replace: Bool, validateOnly: Bool,
                                    request: RequestContext) -> Outcome {
        let manager = request.broker.configs
        let scope: BrokerConfigScope
        switch DynamicBrokerConfigs.alterScope(name, nodeId: manager.nodeId) {
        case .failure(let error): return Outcome(code: error.code, message: error.message)
        case .success(let resolved): scope = resolved
        }
        let operations = changes.map { ($0.name, $0.operation, $0.value) }
        let error = manager.alter(scope, validateOnly: validateOnly) { current in
            DynamicBrokerConfigs.applying(operations, to: replace ? [:] : current)
        }
        if error == nil && !validateOnly {
            request.broker.logger.info("dynamic broker configs changed", metadata: [
                "resource": "\(name.isEmpty ? "cluster default" : "broker \(name)")",
                "configs": "\(changes.map { "\($0.name)\($0.operation == .delete ? " deleted" : "")" })"])
        }
        return error.map { Outcome(code: $0.code, message: $0.message) } ?? Outcome()
    }
}
