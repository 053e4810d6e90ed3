import KafkaProtocol
import NIOCore

/// The "consumer" protocol's embedded formats: what members send in JoinGroup (their
/// subscription) and what the leader hands out in SyncGroup (their assignment). Each is an
/// int16 version followed by the versioned struct; newer versions than we know are read as
/// the newest we know (Kafka's forward-compatibility rule for these).
enum ConsumerProtocol {
    static let protocolType = "consumer"

    static func encodeSubscription(topics: [String], ownedPartitions: [TopicPartition] = [], generation: Int32 = -1,
                                   userData: ByteBuffer? = nil, version: Int16 = 1) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(version)
        let owned = Dictionary(grouping: ownedPartitions, by: \.topic).sorted { $0.key < $1.key }.map {
            ConsumerProtocolSubscription.TopicPartition(topic: $0.key, partitions: $0.value.map(\.partition).sorted())
        }
        try? ConsumerProtocolSubscription(topics: topics.sorted(), userData: userData, ownedPartitions: owned, generationId: generation)
            .write(to: &buffer, version: version)
        return buffer
    }

    static func decodeSubscription(_ bytes: ByteBuffer) -> ConsumerProtocolSubscription? {
        var buffer = bytes
        guard let version: Int16 = buffer.readInteger(), version >= 0 else { return nil }
        return try? ConsumerProtocolSubscription(from: &buffer, version: min(version, ConsumerProtocolSubscription.validVersions.upperBound))
    }

    static func encodeAssignment(_ partitions: [TopicPartition], userData: ByteBuffer? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        let grouped = Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.map {
            ConsumerProtocolAssignment.TopicPartition(topic: $0.key, partitions: $0.value.map(\.partition).sorted())
        }
        try? ConsumerProtocolAssignment(assignedPartitions: grouped, userData: userData).write(to: &buffer, version: 0)
        return buffer
    }

    static func decodeAssignment(_ bytes: ByteBuffer) -> [TopicPartition] {
        var buffer = bytes
        guard buffer.readableBytes >= 2, let version: Int16 = buffer.readInteger(), version >= 0,
              let assignment = try? ConsumerProtocolAssignment(from: &buffer, version: min(version, ConsumerProtocolAssignment.validVersions.upperBound))
        else { return [] }
        return assignment.assignedPartitions.flatMap { topic in topic.partitions.map { TopicPartition(topic.topic, $0) } }.sorted()
    }
}
