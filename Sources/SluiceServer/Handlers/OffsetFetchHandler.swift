import KafkaProtocol
import NIOCore
import SluiceCore

/// OffsetFetch v1–9: one group before v8, several from v8; every committed offset of a group
/// when the topics are null (v2+). Nothing committed reads as offset -1 with no error. With
/// require_stable (v7+, KIP-447) a partition whose offset a transaction has committed but not
/// yet decided answers UNSTABLE_OFFSET_COMMIT, which clients retry.
enum OffsetFetchHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(OffsetFetchRequest.self)
        let version = request.version
        typealias Query = (groupId: String, partitions: [TopicPartitionKey]?)
        func partitions(_ topics: [(String, [Int32])]?) -> [TopicPartitionKey]? {
            topics.map { $0.flatMap { name, indexes in indexes.map { TopicPartitionKey(topic: name, partition: $0) } } }
        }
        let requireStable = version >= 7 && body.requireStable
        let queries: [Query] = version >= 8
            ? body.groups.map { ($0.groupId, partitions($0.topics?.map { ($0.name, $0.partitionIndexes) })) }
            : [(body.groupId, partitions(body.topics?.map { ($0.name, $0.partitionIndexes) }))]
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (OffsetFetchResponse) -> Void) in
            var groups: [OffsetFetchResponse.OffsetFetchResponseGroup] = []
            for query in queries {
                guard !query.groupId.isEmpty || version < 8 else {
                    groups.append(.init(groupId: query.groupId, topics: [], errorCode: KafkaErrorCode.invalidGroupId.rawValue))
                    continue
                }
                let offsets = coordinator.fetchOffsets(groupId: query.groupId, partitions: query.partitions)
                let unstable = requireStable ? coordinator.pendingTransactionalPartitions(groupId: query.groupId, partitions: query.partitions) : []
                var byTopic: [(String, [OffsetFetchResponse.OffsetFetchResponsePartitions])] = []
                for (key, committed) in offsets {
                    let partition = unstable.contains(key)
                        ? OffsetFetchResponse.OffsetFetchResponsePartitions(partitionIndex: key.partition, committedOffset: -1, committedLeaderEpoch: -1,
                                                                            metadata: "", errorCode: KafkaErrorCode.unstableOffsetCommit.rawValue)
                        : OffsetFetchResponse.OffsetFetchResponsePartitions(
                            partitionIndex: key.partition, committedOffset: committed?.offset ?? -1,
                            committedLeaderEpoch: committed?.leaderEpoch ?? -1, metadata: committed?.metadata ?? "", errorCode: 0)
                    if let index = byTopic.firstIndex(where: { $0.0 == key.topic }) {
                        byTopic[index].1.append(partition)
                    } else {
                        byTopic.append((key.topic, [partition]))
                    }
                }
                groups.append(.init(groupId: query.groupId, topics: byTopic.map { .init(name: $0.0, partitions: $0.1) }, errorCode: 0))
            }
            if version >= 8 {
                respond(OffsetFetchResponse(groups: groups))
                return
            }
            let group = groups[0]
            respond(OffsetFetchResponse(
                topics: group.topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map {
                        .init(partitionIndex: $0.partitionIndex, committedOffset: $0.committedOffset,
                              committedLeaderEpoch: $0.committedLeaderEpoch, metadata: $0.metadata, errorCode: $0.errorCode)
                    })
                },
                errorCode: group.errorCode))
        }
    }
}
