import KafkaProtocol
import NIOCore
import SluiceCore

/// OffsetDelete v0: removes committed offsets of topics the group no longer subscribes to
/// (GROUP_SUBSCRIBED_TO_TOPIC for those it does).
enum OffsetDeleteHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(OffsetDeleteRequest.self)
        let registry = request.broker.registry
        let topics = body.topics
        var partitions: [TopicPartitionKey] = []
        var unknown: Set<TopicPartitionKey> = []
        for topic in topics {
            for partition in topic.partitions {
                let key = TopicPartitionKey(topic: topic.name, partition: partition.partitionIndex)
                if registry.partition(topic: topic.name, index: partition.partitionIndex) == nil { unknown.insert(key) } else { partitions.append(key) }
            }
        }
        let known = partitions
        let unknownPartitions = unknown
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (OffsetDeleteResponse) -> Void) in
            coordinator.deleteOffsets(groupId: body.groupId, partitions: known) { error, errors in
                guard error == .none else { return respond(OffsetDeleteResponse(errorCode: error.rawValue)) }
                respond(OffsetDeleteResponse(errorCode: 0, topics: topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map { partition in
                        let key = TopicPartitionKey(topic: topic.name, partition: partition.partitionIndex)
                        let code: KafkaErrorCode = unknownPartitions.contains(key) ? .unknownTopicOrPartition : (errors[key] ?? .none)
                        return .init(partitionIndex: partition.partitionIndex, errorCode: code.rawValue)
                    })
                }))
            }
        }
    }
}
