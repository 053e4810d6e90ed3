import KafkaProtocol
import NIOCore

/// A partition of a topic, as groups commit offsets for it.
public struct TopicPartitionKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.topic == rhs.topic ? lhs.partition < rhs.partition : lhs.topic < rhs.topic
    }

    public var description: String { "\(topic)-\(partition)" }
}

/// A committed offset as OffsetCommit stores it and OffsetFetch returns it.
public struct CommittedOffset: Hashable, Sendable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String
    public var commitTimestampMs: Int64
    /// Set only by OffsetCommit v1–4 with an explicit retention time; otherwise expiry follows
    /// offsets.retention.minutes from when the group emptied (KIP-211).
    public var expireTimestampMs: Int64?

    public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestampMs: Int64, expireTimestampMs: Int64? = nil) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestampMs = commitTimestampMs
        self.expireTimestampMs = expireTimestampMs
    }
}

/// What survives a restart of a group: its generation, protocol, and members with their
/// subscriptions and assignments (written when the leader's assignment arrives and when the
/// group empties), so members keep heartbeating in the same generation after a restart.
public struct GroupSnapshot: Hashable, Sendable {
    public struct Member: Hashable, Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var rebalanceTimeoutMs: Int32
        public var sessionTimeoutMs: Int32
        public var subscription: ByteBuffer
        public var assignment: ByteBuffer
    }

    public var protocolType: String?
    public var generationId: Int32
    public var protocolName: String?
    public var leaderId: String?
    public var stateTimestampMs: Int64
    public var members: [Member]
}

/// One record of the group log: the latest value per key wins, nil is a tombstone.
public enum GroupRecord: Hashable, Sendable {
    case offset(group: String, TopicPartitionKey, CommittedOffset?)
    case group(String, GroupSnapshot?)
}

/// The group log's record encoding. Keys follow __consumer_offsets' layout (version 1: offset
/// commit key, version 2: group key); values carry their own version so the format can grow.
enum GroupRecordCodec {
    static let offsetKeyVersion: Int16 = 1
    static let groupKeyVersion: Int16 = 2
    static let valueVersion: Int16 = 0

    static func encode(_ record: GroupRecord) throws -> (key: ByteBuffer, value: ByteBuffer?) {
        var key = ByteBuffer()
        switch record {
        case .offset(let group, let partition, let committed):
            key.writeKafkaInteger(offsetKeyVersion)
            try key.writeKafkaString(group, compact: false, field: "group")
            try key.writeKafkaString(partition.topic, compact: false, field: "topic")
            key.writeKafkaInteger(partition.partition)
            guard let committed else { return (key, nil) }
            var value = ByteBuffer()
            value.writeKafkaInteger(valueVersion)
            value.writeKafkaInteger(committed.offset)
            value.writeKafkaInteger(committed.leaderEpoch)
            try value.writeKafkaString(committed.metadata, compact: false, field: "metadata")
            value.writeKafkaInteger(committed.commitTimestampMs)
            value.writeKafkaInteger(committed.expireTimestampMs ?? -1)
            return (key, value)
        case .group(let group, let snapshot):
            key.writeKafkaInteger(groupKeyVersion)
            try key.writeKafkaString(group, compact: false, field: "group")
            guard let snapshot else { return (key, nil) }
            var value = ByteBuffer()
            value.writeKafkaInteger(valueVersion)
            try value.writeKafkaNullableString(snapshot.protocolType, compact: false, field: "protocolType")
            value.writeKafkaInteger(snapshot.generationId)
            try value.writeKafkaNullableString(snapshot.protocolName, compact: false, field: "protocolName")
            try value.writeKafkaNullableString(snapshot.leaderId, compact: false, field: "leader")
            value.writeKafkaInteger(snapshot.stateTimestampMs)
            value.writeKafkaInteger(Int32(snapshot.members.count))
            for member in snapshot.members {
                try value.writeKafkaString(member.memberId, compact: false, field: "memberId")
                try value.writeKafkaNullableString(member.groupInstanceId, compact: false, field: "groupInstanceId")
                try value.writeKafkaString(member.clientId, compact: false, field: "clientId")
                try value.writeKafkaString(member.clientHost, compact: false, field: "clientHost")
                value.writeKafkaInteger(member.rebalanceTimeoutMs)
                value.writeKafkaInteger(member.sessionTimeoutMs)
                try value.writeKafkaBytes(member.subscription, compact: false, field: "subscription")
                try value.writeKafkaBytes(member.assignment, compact: false, field: "assignment")
            }
            return (key, value)
        }
    }

    static func decode(key keyBytes: ByteBuffer, value valueBytes: ByteBuffer?) throws -> GroupRecord {
        var key = keyBytes
        let keyVersion: Int16 = try key.readKafkaInteger()
        let group = try key.readKafkaString(compact: false, field: "group")
        switch keyVersion {
        case offsetKeyVersion:
            let partition = TopicPartitionKey(topic: try key.readKafkaString(compact: false, field: "topic"),
                                              partition: try key.readKafkaInteger())
            guard var value = valueBytes else { return .offset(group: group, partition, nil) }
            let version: Int16 = try value.readKafkaInteger()
            guard version == valueVersion else { throw GroupLogError.unreadable("offset value version " + "\(version)") }
            let offset: Int64 = try value.readKafkaInteger()
            let epoch: Int32 = try value.readKafkaInteger()
            let metadata = try value.readKafkaString(compact: false, field: "metadata")
            let commitTimestamp: Int64 = try value.readKafkaInteger()
            let expire: Int64 = try value.readKafkaInteger()
            return .offset(group: group, partition, CommittedOffset(
                offset: offset, leaderEpoch: epoch, metadata: metadata, commitTimestampMs: commitTimestamp,
                expireTimestampMs: expire < 0 ? nil : expire))
        case groupKeyVersion:
            guard var value = valueBytes else { return .group(group, nil) }
            let version: Int16 = try value.readKafkaInteger()
            guard version == valueVersion else { throw GroupLogError.unreadable("group value version " + "\(version)") }
            let protocolType = try value.readKafkaNullableString(compact: false)
            let generation: Int32 = try value.readKafkaInteger()
            let protocolName = try value.readKafkaNullableString(compact: false)
            let leader = try value.readKafkaNullableString(compact: false)
            let stateTimestamp: Int64 = try value.readKafkaInteger()
            let count: Int32 = try value.readKafkaInteger()
            guard count >= 0, Int(count) <= value.readableBytes else {
                throw GroupLogError.unreadable("group members " + "count \(count)")
            }
            var members: [GroupSnapshot.Member] = []
            for _ in 0..<count {
                members.append(GroupSnapshot.Member(
                    memberId: try value.readKafkaString(compact: false, field: "memberId"),
                    groupInstanceId: try value.readKafkaNullableString(compact: false),
                    clientId: try value.readKafkaString(compact: false, field: "clientId"),
                    clientHost: try value.readKafkaString(compact: false, field: "clientHost"),
                    rebalanceTimeoutMs: try value.readKafkaInteger(),
                    sessionTimeoutMs: try value.readKafkaInteger(),
                    subscription: try value.readKafkaBytes(compact: false, field: "subscription"),
                    assignment: try value.readKafkaBytes(compact: false, field: "assignment")))
            }
            return .group(group, GroupSnapshot(protocolType: protocolType, generationId: generation, protocolName: protocolName,
                                               leaderId: leader, stateTimestampMs: stateTimestamp, members: members))
        default:
            throw GroupLogError.unreadable("group record key version " + "\(keyVersion)")
        }
    }
}

/// A group-log record this version cannot read.
public struct GroupLogError: Error, CustomStringConvertible, Sendable {
    public let description: String
    static func unreadable(_ what: String) -> GroupLogError { GroupLogError(description: "unreadable group log record: " + what) }
}
