import KafkaProtocol
import NIOCore
import SluiceCore

/// OffsetCommit v2–9: answered once the accepted commits are durable. Partitions of topics
/// this broker does not have get UNKNOWN_TOPIC_OR_PARTITION, as Kafka answers.
enum OffsetCommitHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(OffsetCommitRequest.self)
        let registry = request.broker.registry
        var unknown: Set<TopicPartitionKey> = []
        var entries: [OffsetCommitEntry] = []
        for topic in body.topics {
            for partition in topic.partitions {
                let key = TopicPartitionKey(topic: topic.name, partition: partition.partitionIndex)
                guard registry.partition(topic: topic.name, index: partition.partitionIndex) != nil else {
                    unknown.insert(key)
                    continue
                }
                entries.append(OffsetCommitEntry(partition: key, offset: partition.committedOffset,
                                                 leaderEpoch: partition.committedLeaderEpoch, metadata: partition.committedMetadata,
                                                 commitTimestampMs: partition.commitTimestamp))
            }
        }
        let input = OffsetCommitInput(
            groupId: body.groupId, generationId: body.generationIdOrMemberEpoch, memberId: body.memberId,
            groupInstanceId: body.groupInstanceId,
            retentionTimeMs: (2...4).contains(request.version) ? body.retentionTimeMs : -1, entries: entries)
        let topics = body.topics
        let unknownPartitions = unknown
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (OffsetCommitResponse) -> Void) in
            let answer: @Sendable ([TopicPartitionKey: KafkaErrorCode]) -> Void = { errors in
                respond(OffsetCommitResponse(topics: topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map { partition in
                        let key = TopicPartitionKey(topic: topic.name, partition: partition.partitionIndex)
                        let error: KafkaErrorCode = unknownPartitions.contains(key) ? .unknownTopicOrPartition : (errors[key] ?? .none)
                        return .init(partitionIndex: partition.partitionIndex, errorCode: error.rawValue)
                    })
                }))
            }
            guard !input.entries.isEmpty else { return answer([:]) }
            coordinator.commitOffsets(input) { errors in answer(errors) }
        }
    }
}
