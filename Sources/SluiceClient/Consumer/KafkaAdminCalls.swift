import KafkaProtocol
import NIOCore

/// The few admin calls the consumer makes, on the consumer's own cluster connections.
struct KafkaAdminCalls {
    let cluster: KafkaCluster

    /// `isolation`: with read_committed, the latest offset is the last stable offset.
    func listOffset(_ partition: TopicPartition, timestamp: Int64, isolation: IsolationLevel = .readUncommitted) async throws -> Int64 {
        let metadata = try await cluster.topic(partition.topic)
        guard let leader = metadata.partitions.first(where: { $0.index == partition.partition })?.leader, leader >= 0 else {
            throw KafkaClientError.broker(.leaderNotAvailable, "\(partition)")
        }
        let request = ListOffsetsRequest(replicaId: -1, isolationLevel: isolation.rawValue, topics: [.init(name: partition.topic, partitions: [
            .init(partitionIndex: partition.partition, currentLeaderEpoch: -1, timestamp: timestamp)])])
        let (response, _) = try await cluster.connection(toNode: leader).send(request, versions: isolation == .readCommitted ? 2...8 : 1...8, timeout: cluster.config.requestTimeout)
        guard let answer = response.topics.first?.partitions.first else {
            throw KafkaClientError(kind: .protocolViolation, message: "empty ListOffsets answer")
        }
        guard answer.errorCode == 0 else {
            await cluster.invalidate(topic: partition.topic)
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: answer.errorCode), "\(partition)")
        }
        return answer.offset
    }

    func committed(group: String, partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        let connection = try await cluster.coordinator(for: group)
        let request = OffsetFetchRequest(groupId: group, topics: Dictionary(grouping: partitions, by: \.topic).map {
            .init(name: $0.key, partitionIndexes: $0.value.map(\.partition))
        })
        let (response, _) = try await connection.send(request, versions: 2...7, timeout: cluster.config.requestTimeout)
        guard response.errorCode == 0 else { throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode), "group \(group)") }
        var result: [TopicPartition: Int64] = [:]
        for topic in response.topics {
            for partition in topic.partitions { result[TopicPartition(topic.name, partition.partitionIndex)] = partition.committedOffset }
        }
        return result
    }

    func commit(group: String, _ offsets: [TopicPartition: Int64], generation: Int32 = -1, memberId: String = "",
                groupInstanceId: String? = nil) async throws {
        let connection = try await cluster.coordinator(for: group)
        let request = OffsetCommitRequest(
            groupId: group, generationIdOrMemberEpoch: generation, memberId: memberId, groupInstanceId: groupInstanceId,
            retentionTimeMs: -1,
            topics: Dictionary(grouping: offsets, by: \.key.topic).map { topic, entries in
                .init(name: topic, partitions: entries.map {
                    .init(partitionIndex: $0.key.partition, committedOffset: $0.value, committedLeaderEpoch: -1, commitTimestamp: -1,
                          committedMetadata: "")
                })
            })
        let (response, _) = try await connection.send(request, versions: 2...8, timeout: cluster.config.requestTimeout)
        for topic in response.topics {
            for partition in topic.partitions where partition.errorCode != 0 {
                throw KafkaClientError.broker(KafkaErrorCode(rawValue: partition.errorCode), "\(topic.name)[\(partition.partitionIndex)]")
            }
        }
    }
}
