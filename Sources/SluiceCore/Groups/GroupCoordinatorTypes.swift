import KafkaProtocol
import NIOCore

/// A JoinGroup as the coordinator sees it (any wire version).
public struct JoinGroupInput: Sendable {
    public var groupId: String
    public var memberId: String
    public var groupInstanceId: String?
    public var clientId: String
    public var clientHost: String
    public var sessionTimeoutMs: Int32
    public var rebalanceTimeoutMs: Int32
    public var protocolType: String
    public var protocols: [GroupProtocol]
    /// JoinGroup v4+ (KIP-394): an unknown member first gets MEMBER_ID_REQUIRED and its id.
    public var requireKnownMemberId: Bool

    public init(groupId: String, memberId: String, groupInstanceId: String?, clientId: String, clientHost: String,
                sessionTimeoutMs: Int32, rebalanceTimeoutMs: Int32, protocolType: String, protocols: [GroupProtocol],
                requireKnownMemberId: Bool) {
        self.groupId = groupId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.sessionTimeoutMs = sessionTimeoutMs
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.protocolType = protocolType
        self.protocols = protocols
        self.requireKnownMemberId = requireKnownMemberId
    }
}

/// A member as the leader sees it in its JoinGroup response.
public struct JoinedMember: Hashable, Sendable {
    public var memberId: String
    public var groupInstanceId: String?
    public var metadata: ByteBuffer
}

public struct JoinGroupResult: Sendable {
    public var error: KafkaErrorCode
    public var memberId: String
    public var generationId: Int32 = -1
    public var protocolType: String?
    public var protocolName: String?
    public var leaderId: String = ""
    /// Only the leader gets the members (with their metadata for the chosen protocol).
    public var members: [JoinedMember] = []

    public init(error: KafkaErrorCode, memberId: String) {
        self.error = error
        self.memberId = memberId
    }
}

public struct SyncGroupInput: Sendable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    public var groupInstanceId: String?
    public var protocolType: String?
    public var protocolName: String?
    public var assignments: [String: ByteBuffer]

    public init(groupId: String, generationId: Int32, memberId: String, groupInstanceId: String?, protocolType: String?,
                protocolName: String?, assignments: [String: ByteBuffer]) {
        self.groupId = groupId
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.protocolType = protocolType
        self.protocolName = protocolName
        self.assignments = assignments
    }
}

public struct SyncGroupResult: Sendable {
    public var error: KafkaErrorCode
    public var protocolType: String?
    public var protocolName: String?
    public var assignment = ByteBuffer()

    public init(error: KafkaErrorCode, protocolType: String? = nil, protocolName: String? = nil, assignment: ByteBuffer = ByteBuffer()) {
        self.error = error
        self.protocolType = protocolType
        self.protocolName = protocolName
        self.assignment = assignment
    }
}

/// One member named in a LeaveGroup (by member id, or by instance id alone for static members).
public struct LeavingMember: Hashable, Sendable {
    public var memberId: String
    public var groupInstanceId: String?

    public init(memberId: String, groupInstanceId: String?) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
    }
}

public struct LeaveGroupResult: Sendable {
    /// Group-level error (only COORDINATOR_NOT_AVAILABLE / INVALID_GROUP_ID here).
    public var error: KafkaErrorCode
    public var members: [(member: LeavingMember, error: KafkaErrorCode)]
}

/// One partition of an OffsetCommit.
public struct OffsetCommitEntry: Sendable {
    public var partition: TopicPartitionKey
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String?
    /// OffsetCommit v1 only; -1 means "now".
    public var commitTimestampMs: Int64

    public init(partition: TopicPartitionKey, offset: Int64, leaderEpoch: Int32, metadata: String?, commitTimestampMs: Int64 = -1) {
        self.partition = partition
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestampMs = commitTimestampMs
    }
}

public struct OffsetCommitInput: Sendable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    public var groupInstanceId: String?
    /// OffsetCommit v2–4 retention time; -1 uses offsets.retention.minutes.
    public var retentionTimeMs: Int64
    public var entries: [OffsetCommitEntry]

    public init(groupId: String, generationId: Int32, memberId: String, groupInstanceId: String?, retentionTimeMs: Int64,
                entries: [OffsetCommitEntry]) {
        self.groupId = groupId
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.retentionTimeMs = retentionTimeMs
        self.entries = entries
    }
}

/// DescribeGroups' view of a group.
public struct GroupDescription: Sendable {
    public struct Member: Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var metadata: ByteBuffer
        public var assignment: ByteBuffer
    }

    public var groupId: String
    public var error: KafkaErrorCode
    public var state: GroupState
    public var protocolType: String
    public var protocolName: String
    public var members: [Member]
}

/// ListGroups' view of a group.
public struct GroupListing: Hashable, Sendable {
    public var groupId: String
    public var protocolType: String
    public var state: GroupState
}
