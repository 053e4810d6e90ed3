import KafkaProtocol
import NIOCore
import SluiceCore

/// Metadata v0–12: this broker as the only broker and the controller, topics with their ids,
/// auto-creating missing topics when the request and `auto.create.topics.enable` allow it.
enum MetadataHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(MetadataRequest.self)
        let broker = request.broker
        if let cluster = broker.cluster { return request.respond(clusterMetadata(body, request: request, cluster: cluster)) }
        let registry = broker.registry
        var topics: [MetadataResponse.MetadataResponseTopic] = []
        // v0 has no "all topics" null: an empty list means all there.
        let wantsAll = body.topics == nil || (request.version == 0 && body.topics?.isEmpty == true)
        if wantsAll {
            topics = registry.allTopics.map { describe($0, broker: broker) }
        } else {
            let autoCreate = body.allowAutoTopicCreation && broker.config.bool("auto.create.topics.enable")
            for wanted in body.topics ?? [] {
                // v10+ may name a topic by id alone (a null name); "" is a name, and an invalid one.
                if wanted.name == nil {
                    if wanted.topicId != .zero, let topic = registry.topic(id: wanted.topicId) {
                        topics.append(describe(topic, broker: broker))
                    } else {
                        topics.append(.init(errorCode: KafkaErrorCode.unknownTopicId.rawValue, name: nil, topicId: wanted.topicId))
                    }
                    continue
                }
                let name = wanted.name!
                if let topic = registry.topic(named: name) {
                    topics.append(describe(topic, broker: broker))
                } else if TopicName.validationError(name) != nil {
                    topics.append(.init(errorCode: KafkaErrorCode.invalidTopicException.rawValue, name: name))
                } else if autoCreate && !TopicName.isInternal(name) {
                    do {
                        let topic = try registry.createTopic(name: name, partitions: -1, replicationFactor: -1, configs: [:], validateOnly: false)
                        topics.append(describe(topic, broker: broker))
                    } catch {
                        // Another connection may have created it in between.
                        if let topic = registry.topic(named: name) {
                            topics.append(describe(topic, broker: broker))
                        } else if registry.isBeingDeleted(name) {
                            // The old topic's files are still being moved aside: ask the client to retry.
                            topics.append(.init(errorCode: KafkaErrorCode.leaderNotAvailable.rawValue, name: name))
                        } else {
                            topics.append(.init(errorCode: error.code.rawValue, name: name))
                        }
                    }
                } else {
                    topics.append(.init(errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue, name: name))
                }
            }
        }
        if body.includeTopicAuthorizedOperations && request.version >= 8 {
            // No authorizer: every operation that applies to a topic is allowed, as Kafka reports it.
            for index in topics.indices where topics[index].errorCode == 0 {
                topics[index].topicAuthorizedOperations = Self.allTopicOperations
            }
        }
        var response = MetadataResponse(
            brokers: [.init(nodeId: broker.nodeId, host: request.advertised.host, port: request.advertised.port, rack: nil)],
            clusterId: broker.identity.clusterId, controllerId: broker.nodeId, topics: topics)
        if body.includeClusterAuthorizedOperations && (8...10).contains(request.version) {
            response.clusterAuthorizedOperations = Self.allClusterOperations
        }
        return request.respond(response)
    }

    /// The cluster as this broker's metadata image has it: live brokers, every topic with each
    /// partition's leader, replicas, ISR and offline replicas (those on fenced brokers). A topic
    /// asked for and auto-created is sent to the controller and answered LEADER_NOT_AVAILABLE,
    /// so the client asks again, as Kafka does.
    static func clusterMetadata(_ body: MetadataRequest, request: RequestContext, cluster: ClusterNode) -> MetadataResponse {
        let status = cluster.quorum.status
        let image = status.image
        let wantsAll = body.topics == nil || (request.version == 0 && body.topics?.isEmpty == true)
        var topics: [MetadataResponse.MetadataResponseTopic] = []
        if wantsAll {
            topics = image.topicsById.values.sorted { $0.name < $1.name }.map { describe($0, image: image) }
        } else {
            let autoCreate = body.allowAutoTopicCreation && request.broker.config.bool("auto.create.topics.enable")
            var toCreate: [String] = []
            for wanted in body.topics ?? [] {
                guard let name = wanted.name else {
                    if wanted.topicId != .zero, let topic = image.topicsById[wanted.topicId] {
                        topics.append(describe(topic, image: image))
                    } else {
                        topics.append(.init(errorCode: KafkaErrorCode.unknownTopicId.rawValue, name: nil, topicId: wanted.topicId))
                    }
                    continue
                }
                if let topic = image.topic(named: name) {
                    topics.append(describe(topic, image: image))
                } else if TopicName.validationError(name) != nil {
                    topics.append(.init(errorCode: KafkaErrorCode.invalidTopicException.rawValue, name: name))
                } else if autoCreate && !TopicName.isInternal(name) {
                    toCreate.append(name)
                    topics.append(.init(errorCode: KafkaErrorCode.leaderNotAvailable.rawValue, name: name))
                } else {
                    topics.append(.init(errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue, name: name))
                }
            }
            if !toCreate.isEmpty {
                let logger = request.logger
                Task {
                    let create = CreateTopicsRequest(topics: toCreate.map { .init(name: $0, numPartitions: -1, replicationFactor: -1) },
                                                     timeoutMs: 30_000)
                    do {
                        _ = try await cluster.controller.send(create, version: 7) { response in
                            response.topics.allSatisfy { $0.errorCode == KafkaErrorCode.notController.rawValue }
                        }
                    } catch {
                        logger.warning("could not auto-create topics", metadata: ["topics": "\(toCreate)", "error": "\(error)"])
                    }
                }
            }
        }
        if body.includeTopicAuthorizedOperations && request.version >= 8 {
            for index in topics.indices where topics[index].errorCode == 0 {
                topics[index].topicAuthorizedOperations = Self.allTopicOperations
            }
        }
        var brokers = image.activeBrokers.compactMap { registration -> MetadataResponse.MetadataResponseBroker? in
            guard let endpoint = registration.endpoint(on: request.listenerName) else { return nil }
            return .init(nodeId: registration.id, host: endpoint.host, port: Int32(endpoint.port), rack: registration.rack)
        }
        if brokers.isEmpty {
            // Every broker fenced in this image (this one too, just now): still name the one
            // answering. librdkafka drops every broker it knows, bootstrap ones included, on a
            // response that lists none, and is then left with no one to ask.
            let broker = request.broker
            brokers = [.init(nodeId: broker.identity.nodeId, host: request.advertised.host, port: request.advertised.port, rack: nil)]
        }
        var response = MetadataResponse(brokers: brokers, clusterId: request.broker.identity.clusterId,
                                        controllerId: cluster.controllerIdForClients(status), topics: topics)
        if body.includeClusterAuthorizedOperations && (8...10).contains(request.version) {
            response.clusterAuthorizedOperations = Self.allClusterOperations
        }
        return response
    }

    static func describe(_ topic: TopicMetadataImage, image: MetadataImage) -> MetadataResponse.MetadataResponseTopic {
        let partitions = topic.partitions.keys.sorted().compactMap { index -> MetadataResponse.MetadataResponsePartition? in
            guard let partition = topic.partitions[index] else { return nil }
            let offline = partition.replicas.filter { image.brokers[$0]?.fenced ?? true }
            return .init(errorCode: partition.leader < 0 ? KafkaErrorCode.leaderNotAvailable.rawValue : 0, partitionIndex: index,
                         leaderId: partition.leader, leaderEpoch: partition.leaderEpoch, replicaNodes: partition.replicas,
                         isrNodes: partition.isr, offlineReplicas: offline)
        }
        return .init(errorCode: 0, name: topic.name, topicId: topic.id, isInternal: topic.name == OffsetsTopicStore.topic, partitions: partitions)
    }

    /// AclOperation bits: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
    /// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11.
    static let allTopicOperations: Int32 = [3, 4, 5, 6, 7, 8, 10, 11].reduce(0) { $0 | (1 << $1) }
    /// CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
    /// IDEMPOTENT_WRITE 12.
    static let allClusterOperations: Int32 = [5, 7, 8, 9, 10, 11, 12].reduce(0) { $0 | (1 << $1) }

    /// A topic's partitions as the partition layer knows them. A partition whose log could not be
    /// opened lists this broker among its offline replicas, as Kafka's metadata cache does for a
    /// replica on an offline log directory; its requests get KAFKA_STORAGE_ERROR.
    static func describe(_ topic: Topic, broker: BrokerContext) -> MetadataResponse.MetadataResponseTopic {
        let node = broker.nodeId
        let partitions = topic.partitions.map { partition in
            let state = partition.state
            return MetadataResponse.MetadataResponsePartition(
                errorCode: 0, partitionIndex: partition.index, leaderId: state.leader, leaderEpoch: state.leaderEpoch,
                replicaNodes: state.replicas, isrNodes: state.isr, offlineReplicas: partition.isOffline ? [node] : [])
        }
        return .init(errorCode: 0, name: topic.name, topicId: topic.id, isInternal: topic.name == OffsetsTopicStore.topic, partitions: partitions)
    }
}
