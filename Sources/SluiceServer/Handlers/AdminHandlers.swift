import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// Kafka's ConfigResource types.
enum ConfigResourceType {
    static let topic: Int8 = 2
    static let broker: Int8 = 4
}

/// CreatePartitions v0–3: grow a topic (replica assignments may name only this broker).
enum CreatePartitionsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(CreatePartitionsRequest.self)
        let node = request.broker.nodeId
        let results = body.topics.map { topic -> CreatePartitionsResponse.CreatePartitionsTopicResult in
            if let assignments = topic.assignments, assignments.contains(where: { $0.brokerIds != [node] }) {
                return .init(name: topic.name, errorCode: KafkaErrorCode.invalidReplicaAssignment.rawValue,
                             errorMessage: "Assignments may name only broker \(node).")
            }
            do throws(TopicError) {
                try request.broker.registry.createPartitions(name: topic.name, totalCount: topic.count, validateOnly: body.validateOnly)
                return .init(name: topic.name, errorCode: 0)
            } catch {
                return .init(name: topic.name, errorCode: error.code.rawValue, errorMessage: error.message)
            }
        }
        return request.respond(CreatePartitionsResponse(results: results))
    }
}

/// DescribeConfigs v1–4: topic configs with their sources and, when asked, synonyms; the
/// broker's own settings for broker resources.
enum DescribeConfigsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeConfigsRequest.self)
        let broker = request.broker
        var results: [DescribeConfigsResponse.DescribeConfigsResult] = []
        for resource in body.resources {
            let keys = resource.configurationKeys.map(Set.init)
            switch resource.resourceType {
            case ConfigResourceType.topic:
                guard let topic = broker.registry.topic(named: resource.resourceName) else {
                    results.append(.init(errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue,
                                         errorMessage: "Topic \(resource.resourceName) does not exist.",
                                         resourceType: resource.resourceType, resourceName: resource.resourceName))
                    continue
                }
                let configs = TopicConfigs.definitions.filter { keys?.contains($0.name) ?? true }.map { definition in
                    let (value, source) = TopicConfigs.effectiveValue(definition.name, overrides: topic.configs, broker: broker.config)
                    var synonyms: [DescribeConfigsResponse.DescribeConfigsSynonym] = []
                    if body.includeSynonyms {
                        if let override = topic.configs[definition.name] {
                            synonyms.append(.init(name: definition.name, value: override, source: TopicConfigs.Source.topic.rawValue))
                        }
                        if let synonym = definition.brokerSynonym, let brokerValue = broker.config.values[synonym] {
                            synonyms.append(.init(name: synonym, value: brokerValue, source: TopicConfigs.Source.staticBroker.rawValue))
                        }
                        synonyms.append(.init(name: definition.name, value: definition.fallback, source: TopicConfigs.Source.defaultConfig.rawValue))
                    }
                    return DescribeConfigsResponse.DescribeConfigsResourceResult(
                        name: definition.name, value: value, readOnly: false, configSource: source.rawValue,
                        isSensitive: false, synonyms: synonyms, configType: configType(definition.name),
                        documentation: nil)
                }
                results.append(.init(errorCode: 0, resourceType: resource.resourceType, resourceName: resource.resourceName, configs: configs))
            case ConfigResourceType.broker:
                let configs = BrokerConfig.settings.filter { keys?.contains($0.name) ?? true }.map { setting in
                    let value = broker.config.string(setting.name)
                    return DescribeConfigsResponse.DescribeConfigsResourceResult(
                        name: setting.name, value: value, readOnly: true,
                        configSource: value == setting.defaultValue ? TopicConfigs.Source.defaultConfig.rawValue : TopicConfigs.Source.staticBroker.rawValue,
                        isSensitive: false, configType: brokerConfigType(setting.kind))
                }
                results.append(.init(errorCode: 0, resourceType: resource.resourceType, resourceName: resource.resourceName, configs: configs))
            default:
                results.append(.init(errorCode: KafkaErrorCode.invalidRequest.rawValue,
                                     errorMessage: "Unsupported resource type \(resource.resourceType)",
                                     resourceType: resource.resourceType, resourceName: resource.resourceName))
            }
        }
        return request.respond(DescribeConfigsResponse(results: results))
    }

    /// Kafka's ConfigType numbers (v3+): 1 boolean, 2 string, 3 int, 5 long, 7 list.
    static func configType(_ name: String) -> Int8 {
        switch name {
        case "cleanup.policy": return 7
        case "compression.type", "message.timestamp.type": return 2
        case "max.message.bytes", "segment.bytes", "index.interval.bytes", "min.insync.replicas": return 3
        default: return 5
        }
    }

    static func brokerConfigType(_ kind: BrokerSetting.Kind) -> Int8 {
        switch kind {
        case .bool: return 1
        case .string: return 2
        case .int: return 3
        case .long: return 5
        }
    }
}

/// AlterConfigs v0–2 (replaces a topic's overrides) and IncrementalAlterConfigs v0–1 (set,
/// delete; append/subtract only for list configs, which Sluice's topics do not have).
enum AlterConfigsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AlterConfigsRequest.self)
        let responses = body.resources.map { resource -> AlterConfigsResponse.AlterConfigsResourceResponse in
            let outcome = apply(resource.resourceType, resource.resourceName, request: request, replace: true,
                                changes: resource.configs.map { ($0.name, $0.value) }, validateOnly: body.validateOnly)
            return .init(errorCode: outcome.code.rawValue, errorMessage: outcome.message,
                         resourceType: resource.resourceType, resourceName: resource.resourceName)
        }
        return request.respond(AlterConfigsResponse(responses: responses))
    }

    static func handleIncremental(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(IncrementalAlterConfigsRequest.self)
        let responses = body.resources.map { resource -> IncrementalAlterConfigsResponse.AlterConfigsResourceResponse in
            var changes: [(String, String?)] = []
            for config in resource.configs {
                switch config.configOperation {
                case 0: changes.append((config.name, config.value))  // SET
                case 1: changes.append((config.name, nil))  // DELETE
                default:
                    return .init(errorCode: KafkaErrorCode.invalidConfig.rawValue,
                                 errorMessage: "APPEND and SUBTRACT apply only to list configs; \(config.name) is not one",
                                 resourceType: resource.resourceType, resourceName: resource.resourceName)
                }
            }
            let outcome = apply(resource.resourceType, resource.resourceName, request: request, replace: false,
                                changes: changes, validateOnly: body.validateOnly)
            return .init(errorCode: outcome.code.rawValue, errorMessage: outcome.message,
                         resourceType: resource.resourceType, resourceName: resource.resourceName)
        }
        return request.respond(IncrementalAlterConfigsResponse(responses: responses))
    }

    private static func apply(_ type: Int8, _ name: String, request: RequestContext, replace: Bool,
                              changes: [(String, String?)], validateOnly: Bool) -> (code: KafkaErrorCode, message: String?) {
        guard type == ConfigResourceType.topic else {
            return (.invalidRequest, "Only topic configs can be altered; broker settings are static (sluice serve --set).")
        }
        var map: [String: String?] = [:]
        for (key, value) in changes { map[key] = .some(value) }
        do {
            try request.broker.registry.alterConfigs(name: name, changes: map, replace: replace, validateOnly: validateOnly)
            return (.none, nil)
        } catch {
            return (error.code, error.message)
        }
    }
}

/// DeleteRecords v0–2: move each partition's log start offset (-1 means the high watermark).
enum DeleteRecordsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DeleteRecordsRequest.self)
        let eventLoop = request.eventLoop
        var work: [EventLoopFuture<(String, DeleteRecordsResponse.DeleteRecordsPartitionResult)>] = []
        for topic in body.topics {
            for wanted in topic.partitions {
                let name = topic.name
                guard let partition = request.broker.registry.partition(topic: name, index: wanted.partitionIndex) else {
                    work.append(eventLoop.makeSucceededFuture((name, .init(partitionIndex: wanted.partitionIndex, lowWatermark: -1,
                                                                            errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue))))
                    continue
                }
                let owner = (partition.owner as? EventLoopOwner)?.eventLoop ?? eventLoop
                work.append(owner.submit {
                    let log = partition.log
                    let target = wanted.offset == -1 ? log.highWatermark : wanted.offset
                    do {
                        let start = try log.deleteRecords(before: target)
                        return (name, .init(partitionIndex: wanted.partitionIndex, lowWatermark: start, errorCode: 0))
                    } catch {
                        return (name, .init(partitionIndex: wanted.partitionIndex, lowWatermark: -1,
                                            errorCode: StorageErrorMapping.code(for: error).rawValue))
                    }
                }.hop(to: eventLoop))
            }
        }
        return EventLoopFuture.whenAllSucceed(work, on: eventLoop).flatMap { results in
            var order: [String] = []
            var byTopic: [String: [DeleteRecordsResponse.DeleteRecordsPartitionResult]] = [:]
            for (name, result) in results {
                if byTopic[name] == nil { order.append(name) }
                byTopic[name, default: []].append(result)
            }
            return request.respond(DeleteRecordsResponse(topics: order.map { .init(name: $0, partitions: byTopic[$0]!) }))
        }
    }
}

/// DescribeCluster v0–1: this broker, as controller.
enum DescribeClusterHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        _ = try request.decode(DescribeClusterRequest.self)
        let broker = request.broker
        return request.respond(DescribeClusterResponse(
            errorCode: 0, clusterId: broker.identity.clusterId, controllerId: broker.nodeId,
            brokers: [.init(brokerId: broker.nodeId, host: broker.advertisedHost, port: broker.advertisedPort, rack: nil)]))
    }
}

/// OffsetForLeaderEpoch v2–4: a single broker keeps every partition at leader epoch 0, so the
/// end offset of epoch 0 (or any later epoch asked about) is the log end offset.
enum OffsetForLeaderEpochHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(OffsetForLeaderEpochRequest.self)
        let eventLoop = request.eventLoop
        var work: [EventLoopFuture<(String, OffsetForLeaderEpochResponse.EpochEndOffset)>] = []
        for topic in body.topics {
            for wanted in topic.partitions {
                let name = topic.topic
                guard let partition = request.broker.registry.partition(topic: name, index: wanted.partition) else {
                    work.append(eventLoop.makeSucceededFuture((name, .init(
                        errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue, partition: wanted.partition))))
                    continue
                }
                let owner = (partition.owner as? EventLoopOwner)?.eventLoop ?? eventLoop
                work.append(owner.submit {
                    (name, .init(errorCode: 0, partition: wanted.partition, leaderEpoch: 0,
                                 endOffset: wanted.leaderEpoch < 0 ? -1 : partition.log.logEndOffset))
                }.hop(to: eventLoop))
            }
        }
        return EventLoopFuture.whenAllSucceed(work, on: eventLoop).flatMap { results in
            var order: [String] = []
            var byTopic: [String: [OffsetForLeaderEpochResponse.EpochEndOffset]] = [:]
            for (name, result) in results {
                if byTopic[name] == nil { order.append(name) }
                byTopic[name, default: []].append(result)
            }
            return request.respond(OffsetForLeaderEpochResponse(topics: order.map { .init(topic: $0, partitions: byTopic[$0]!) }))
        }
    }
}
