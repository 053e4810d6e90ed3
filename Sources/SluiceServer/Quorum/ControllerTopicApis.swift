import KafkaProtocol
import NIOCore
import SluiceCore

/// CreateTopics, DeleteTopics and CreatePartitions on the controller (brokers forward them
/// here, as Kafka's do): checked as the single broker checks them, then decided and written
/// through the quorum; each topic is answered once its records commit.
enum ControllerTopicApis {
    static func createTopics(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(CreateTopicsRequest.self)
        let config = request.broker.config
        let image = quorum.status.image
        let defaultPartitions = config.int("num.partitions")
        if let refused = CreateTopicsHandler.refusedAsTooLarge(body, defaultPartitions: defaultPartitions) { return request.respond(refused) }
        var results: [EventLoopFuture<CreateTopicsResponse.CreatableTopicResult>] = []
        var seen = Set<String>()
        let loop = request.eventLoop
        func fail(_ name: String, _ code: KafkaErrorCode, _ message: String) {
            results.append(loop.makeSucceededFuture(.init(name: name, errorCode: code.rawValue, errorMessage: message)))
        }
        for wanted in body.topics {
            guard seen.insert(wanted.name).inserted else {
                fail(wanted.name, .invalidRequest, "Create topics request from client contains a duplicate topic")
                continue
            }
            if let reason = TopicName.validationError(wanted.name) {
                fail(wanted.name, .invalidTopicException, reason)
                continue
            }
            if image.topic(named: wanted.name) != nil {
                fail(wanted.name, .topicAlreadyExists, "Topic '\(wanted.name)' already exists.")
                continue
            }
            let key = TopicName.collisionKey(wanted.name)
            if let clash = image.topicIdsByName.keys.first(where: { TopicName.collisionKey($0) == key }) {
                fail(wanted.name, .invalidTopicException, "Topic '\(wanted.name)' collides with existing topic: \(clash)")
                continue
            }
            let nulls = wanted.configs.filter { $0.value == nil }.map(\.name)
            guard nulls.isEmpty else {
                fail(wanted.name, .invalidConfig, "Null value not supported for topic configs: \(nulls.joined(separator: ","))")
                continue
            }
            var configs: [String: String] = [:]
            for entry in wanted.configs { configs[entry.name] = entry.value }
            if let reason = TopicConfigs.validationError(configs, broker: config) {
                fail(wanted.name, .invalidConfig, reason)
                continue
            }
            let indexes = wanted.assignments.map(\.partitionIndex).sorted()
            guard indexes == indexes.indices.map(Int32.init) else {
                fail(wanted.name, .invalidReplicaAssignment,
                     "Partitions should be a consecutive 0-based integer sequence, but the partitions given are \(indexes).")
                continue
            }
            let assignments = wanted.assignments.sorted { $0.partitionIndex < $1.partitionIndex }.map(\.brokerIds)
            if !assignments.isEmpty && (wanted.numPartitions != -1 || wanted.replicationFactor != -1) {
                fail(wanted.name, .invalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
                continue
            }
            let partitions = assignments.isEmpty ? (wanted.numPartitions == -1 ? defaultPartitions : Int(wanted.numPartitions)) : assignments.count
            let factor = assignments.isEmpty
                ? (wanted.replicationFactor == -1 ? config.int("default.replication.factor") : Int(wanted.replicationFactor))
                : assignments[0].count
            let topic = ReplicationControl.NewTopic(name: wanted.name, id: KafkaUUID.random(), partitions: partitions,
                                                    replicationFactor: factor, assignments: assignments,
                                                    configs: TopicConfigs.normalized(configs))
            let success = CreateTopicsResponse.CreatableTopicResult(
                name: wanted.name, topicId: body.validateOnly ? .zero : topic.id, errorCode: 0, numPartitions: Int32(partitions),
                replicationFactor: Int16(clamping: factor), configs: CreateTopicsHandler.describeConfigs(configs, request: request))
            if body.validateOnly {
                // Decided as the controller would, against the image as it is now, and not written.
                do throws(ControllerError) {
                    _ = try ReplicationControl().createTopic(topic, image: image, start: 0)
                    results.append(loop.makeSucceededFuture(success))
                } catch {
                    fail(wanted.name, error.code, error.message)
                }
                continue
            }
            results.append(quorum.submit(.createTopic(topic)).hop(to: loop).map { _ in success }.flatMapErrorWithEventLoop { error, loop in
                let failure = error as? ControllerError ?? ControllerError(.unknownServerError, "\(error)")
                return loop.makeSucceededFuture(.init(name: wanted.name, errorCode: failure.code.rawValue, errorMessage: failure.message))
            })
        }
        return EventLoopFuture.whenAllSucceed(results, on: loop).flatMap { request.respond(CreateTopicsResponse(topics: $0)) }
    }

    static func deleteTopics(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DeleteTopicsRequest.self)
        let image = quorum.status.image
        let loop = request.eventLoop
        var wanted: [(name: String?, id: KafkaUUID)] = body.topicNames.map { ($0, .zero) }
        wanted += body.topics.map { ($0.name, $0.topicId) }
        let results = wanted.map { name, id -> EventLoopFuture<DeleteTopicsResponse.DeletableTopicResult> in
            let topic = name.flatMap { image.topic(named: $0) } ?? (id != .zero ? image.topicsById[id] : nil)
            guard let topic else {
                let code: KafkaErrorCode = name == nil ? .unknownTopicId : .unknownTopicOrPartition
                return loop.makeSucceededFuture(.init(name: name, topicId: id, errorCode: code.rawValue,
                                                      errorMessage: "This server does not host this topic."))
            }
            return quorum.submit(.deleteTopic(name: topic.name)).hop(to: loop)
                .map { _ in .init(name: topic.name, topicId: topic.id, errorCode: 0) }
                .flatMapErrorWithEventLoop { error, loop in
                    let failure = error as? ControllerError ?? ControllerError(.unknownServerError, "\(error)")
                    return loop.makeSucceededFuture(.init(name: topic.name, topicId: topic.id, errorCode: failure.code.rawValue,
                                                          errorMessage: failure.message))
                }
        }
        return EventLoopFuture.whenAllSucceed(results, on: loop).flatMap { request.respond(DeleteTopicsResponse(responses: $0)) }
    }

    static func createPartitions(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(CreatePartitionsRequest.self)
        let image = quorum.status.image
        let loop = request.eventLoop
        let added = body.topics.reduce(0) { total, topic in
            total + max(0, Int(topic.count) - (image.topic(named: topic.name)?.partitions.count ?? 0))
        }
        if added > CreateTopicsHandler.maxRecordsPerRequest {
            return request.respond(CreatePartitionsResponse(results: body.topics.map {
                .init(name: $0.name, errorCode: KafkaErrorCode.policyViolation.rawValue, errorMessage: "Unable to perform excessively large batch operation.")
            }))
        }
        let results = body.topics.map { topic -> EventLoopFuture<CreatePartitionsResponse.CreatePartitionsTopicResult> in
            let assignments = topic.assignments?.map(\.brokerIds) ?? []
            if body.validateOnly {
                do throws(ControllerError) {
                    _ = try ReplicationControl().createPartitions(topic: topic.name, totalCount: Int(topic.count), assignments: assignments,
                                                                  image: image, start: 0)
                    return loop.makeSucceededFuture(.init(name: topic.name, errorCode: 0))
                } catch {
                    return loop.makeSucceededFuture(.init(name: topic.name, errorCode: error.code.rawValue, errorMessage: error.message))
                }
            }
            return quorum.submit(.createPartitions(topic: topic.name, totalCount: Int(topic.count), assignments: assignments)).hop(to: loop)
                .map { _ in .init(name: topic.name, errorCode: 0) }
                .flatMapErrorWithEventLoop { error, loop in
                    let failure = error as? ControllerError ?? ControllerError(.unknownServerError, "\(error)")
                    return loop.makeSucceededFuture(.init(name: topic.name, errorCode: failure.code.rawValue, errorMessage: failure.message))
                }
        }
        return EventLoopFuture.whenAllSucceed(results, on: loop).flatMap { request.respond(CreatePartitionsResponse(results: $0)) }
    }

    /// IncrementalAlterConfigs from a broker: topic resources only, as explicit SETs and DELETEs
    /// (the broker resolved APPEND, SUBTRACT and replace-all, and validated the result).
    static func alterTopicConfigs(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(IncrementalAlterConfigsRequest.self)
        let loop = request.eventLoop
        let results = body.resources.map { resource -> EventLoopFuture<IncrementalAlterConfigsResponse.AlterConfigsResourceResponse> in
            @Sendable func answer(_ code: KafkaErrorCode, _ message: String?) -> EventLoopFuture<IncrementalAlterConfigsResponse.AlterConfigsResourceResponse> {
                loop.makeSucceededFuture(.init(errorCode: code.rawValue, errorMessage: message, resourceType: resource.resourceType,
                                               resourceName: resource.resourceName))
            }
            guard resource.resourceType == ConfigResourceType.topic else {
                return answer(.invalidRequest, "The controller takes topic configs only; broker configs stay with each broker")
            }
            var set: [String: String] = [:]
            var delete: [String] = []
            for config in resource.configs {
                switch TopicConfigs.Operation(rawValue: config.configOperation) {
                case .set?:
                    guard let value = config.value else { return answer(.invalidRequest, "Null value not supported for : \(config.name)") }
                    set[config.name] = value
                case .delete?: delete.append(config.name)
                default: return answer(.invalidRequest, "The controller takes only SET and DELETE")
                }
            }
            return quorum.submit(.alterTopicConfigs(topic: resource.resourceName, set: set, delete: delete)).hop(to: loop)
                .flatMap { _ in answer(.none, nil) }
                .flatMapError { error in
                    let failure = error as? ControllerError ?? ControllerError(.unknownServerError, "\(error)")
                    return answer(failure.code, failure.message)
                }
        }
        return EventLoopFuture.whenAllSucceed(results, on: loop).flatMap { request.respond(IncrementalAlterConfigsResponse(responses: $0)) }
    }
}
