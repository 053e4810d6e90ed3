import KafkaProtocol
import NIOCore

/// Kafka's group states, with the names DescribeGroups and ListGroups report.
public enum GroupState: String, Sendable, CaseIterable {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    case dead = "Dead"
}

/// A protocol a member offers in JoinGroup (for consumers: an assignor and its subscription).
public struct GroupProtocol: Hashable, Sendable {
    public var name: String
    public var metadata: ByteBuffer

    public init(name: String, metadata: ByteBuffer) {
        self.name = name
        self.metadata = metadata
    }
}

/// One member of a classic group. Owned by its group (and so by the coordinator's executor).
final class GroupMember {
    var memberId: String
    let groupInstanceId: String?
    let clientId: String
    let clientHost: String
    var rebalanceTimeoutMs: Int32
    var sessionTimeoutMs: Int32
    var protocols: [GroupProtocol]
    var assignment = ByteBuffer()
    /// Set while the member waits in JoinGroup for the rebalance to complete.
    var joinCallback: ((JoinGroupResult) -> Void)?
    /// Set while the member waits in SyncGroup for the leader's assignment.
    var syncCallback: ((SyncGroupResult) -> Void)?
    /// Joined during the current rebalance and not yet through one: gets the longer join timeout.
    var isNew = false
    var lastHeartbeatMs: Int64

    init(memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, rebalanceTimeoutMs: Int32,
         sessionTimeoutMs: Int32, protocols: [GroupProtocol], nowMs: Int64) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.sessionTimeoutMs = sessionTimeoutMs
        self.protocols = protocols
        self.lastHeartbeatMs = nowMs
    }

    func metadata(for protocolName: String?) -> ByteBuffer {
        protocols.first { $0.name == protocolName }?.metadata ?? ByteBuffer()
    }

    func matches(_ other: [GroupProtocol]) -> Bool { protocols == other }

    /// Kafka's rule: members waiting in JoinGroup or SyncGroup are kept alive (new members only
    /// for the new-member join timeout); otherwise the session timeout since the last heartbeat.
    func shouldKeepAlive(nowMs: Int64, newMemberJoinTimeoutMs: Int64) -> Bool {
        if joinCallback != nil { return !isNew || lastHeartbeatMs + newMemberJoinTimeoutMs > nowMs }
        if syncCallback != nil { return true }
        return lastHeartbeatMs + Int64(sessionTimeoutMs) > nowMs
    }

    /// When `shouldKeepAlive` turns false unless the member is heard from first; nil while it
    /// waits in JoinGroup (once through a rebalance) or in SyncGroup.
    func expiryMs(newMemberJoinTimeoutMs: Int64) -> Int64? {
        if joinCallback != nil { return isNew ? lastHeartbeatMs + newMemberJoinTimeoutMs : nil }
        if syncCallback != nil { return nil }
        return lastHeartbeatMs + Int64(sessionTimeoutMs)
    }
}

/// A classic-protocol group: state machine data, members in join order, committed offsets.
final class ClassicGroup {
    let groupId: String
    private(set) var state: GroupState = .empty
    private(set) var stateTimestampMs: Int64
    /// nil for groups that only ever committed offsets (no member ever joined).
    var protocolType: String?
    var protocolName: String?
    var generationId: Int32 = 0
    var leaderId: String?
    private(set) var members: [String: GroupMember] = [:]
    /// Member ids in the order they joined: leader election and responses follow it.
    private(set) var memberOrder: [String] = []
    private(set) var staticMembers: [String: String] = [:]
    /// Members told MEMBER_ID_REQUIRED, with the time their id expires unless they rejoin.
    var pendingMembers: [String: Int64] = [:]
    var offsets: [TopicPartitionKey: CommittedOffset] = [:]
    /// Offset commits being written: not expired or deleted from under a write.
    var pendingOffsetWrites = 0

    /// While PreparingRebalance: when the join phase completes even if members are missing.
    var joinDeadlineMs: Int64?
    /// The first rebalance of an empty group waits group.initial.rebalance.delay.ms, extended
    /// while new members keep arriving, up to the rebalance timeout.
    var initialDelay: (delayMs: Int64, remainingMs: Int64)?
    var newMemberAdded = false
    /// Members of the current generation that have not yet sent SyncGroup, and when they must.
    var pendingSyncMembers: Set<String> = []
    var syncDeadlineMs: Int64?
    /// Topics the members subscribe to (consumer protocol), for offset expiry and OffsetDelete.
    var subscribedTopics: Set<String>?
    /// The earliest deadline of this group waiting in the coordinator's `GroupDeadlines`.
    var scheduledDeadlineMs: Int64?

    init(groupId: String, nowMs: Int64) {
        self.groupId = groupId
        self.stateTimestampMs = nowMs
    }

    func transition(to newState: GroupState, nowMs: Int64) {
        state = newState
        stateTimestampMs = nowMs
    }

    func restore(state: GroupState, timestampMs: Int64) {
        self.state = state
        self.stateTimestampMs = timestampMs
    }

    var orderedMembers: [GroupMember] { memberOrder.compactMap { members[$0] } }
    var isEmptyOfMembers: Bool { members.isEmpty }
    func has(_ memberId: String) -> Bool { members[memberId] != nil }
    func isLeader(_ memberId: String) -> Bool { leaderId == memberId }
    func staticMemberId(for instanceId: String) -> String? { staticMembers[instanceId] }

    /// Kafka's isStaticMemberFenced: the instance id now belongs to a different member id.
    func isFenced(memberId: String, instanceId: String?) -> Bool {
        guard let instanceId, let current = staticMembers[instanceId] else { return false }
        return current != memberId
    }

    func add(_ member: GroupMember) {
        members[member.memberId] = member
        memberOrder.append(member.memberId)
        if let instanceId = member.groupInstanceId { staticMembers[instanceId] = member.memberId }
        if leaderId == nil { leaderId = member.memberId }
    }

    @discardableResult
    func remove(_ memberId: String) -> GroupMember? {
        guard let member = members.removeValue(forKey: memberId) else { return nil }
        memberOrder.removeAll { $0 == memberId }
        if let instanceId = member.groupInstanceId, staticMembers[instanceId] == memberId {
            staticMembers.removeValue(forKey: instanceId)
        }
        pendingSyncMembers.remove(memberId)
        if leaderId == memberId { leaderId = memberOrder.first }
        return member
    }

    /// A static member rejoining without its member id gets a new one; the old id is fenced.
    func replaceStaticMember(instanceId: String, oldMemberId: String, newMemberId: String) -> GroupMember? {
        guard let member = members.removeValue(forKey: oldMemberId) else { return nil }
        member.memberId = newMemberId
        members[newMemberId] = member
        if let index = memberOrder.firstIndex(of: oldMemberId) { memberOrder[index] = newMemberId }
        staticMembers[instanceId] = newMemberId
        if leaderId == oldMemberId { leaderId = newMemberId }
        if pendingSyncMembers.remove(oldMemberId) != nil { pendingSyncMembers.insert(newMemberId) }
        return member
    }

    /// The earliest moment something about this group must be checked: a pending member id, a
    /// member session, the join phase or the sync phase running out.
    func nextDeadlineMs(newMemberJoinTimeoutMs: Int64) -> Int64? {
        var next = pendingMembers.values.min()
        func consider(_ deadline: Int64?) {
            guard let deadline else { return }
            next = min(next ?? deadline, deadline)
        }
        for member in members.values { consider(member.expiryMs(newMemberJoinTimeoutMs: newMemberJoinTimeoutMs)) }
        if state == .preparingRebalance { consider(joinDeadlineMs) }
        if state == .completingRebalance || state == .stable { consider(syncDeadlineMs) }
        return next
    }

    var maxRebalanceTimeoutMs: Int64 {
        Int64(members.values.map(\.rebalanceTimeoutMs).max() ?? 0)
    }

    var allMembersJoined: Bool {
        pendingMembers.isEmpty && members.values.allSatisfy { $0.joinCallback != nil }
    }

    /// A joining member must speak the group's protocol type and share at least one protocol
    /// with every current member.
    func supports(protocolType type: String, protocols: [GroupProtocol]) -> Bool {
        if members.isEmpty { return !type.isEmpty && !protocols.isEmpty }
        guard type == protocolType else { return false }
        let candidates = candidateProtocols
        return protocols.contains { candidates.contains($0.name) }
    }

    /// Protocols every member supports.
    var candidateProtocols: Set<String> {
        var result: Set<String>?
        for member in members.values {
            let names = Set(member.protocols.map(\.name))
            result = result.map { $0.intersection(names) } ?? names
        }
        return result ?? []
    }

    /// Kafka's vote: each member votes for its most preferred candidate; the most votes wins
    /// (ties go to the one preferred by the earliest-joined member).
    func selectProtocol() -> String? {
        let candidates = candidateProtocols
        var votes: [String: Int] = [:]
        var firstChoice: [String] = []
        for member in orderedMembers {
            guard let choice = member.protocols.first(where: { candidates.contains($0.name) })?.name else { continue }
            votes[choice, default: 0] += 1
            if !firstChoice.contains(choice) { firstChoice.append(choice) }
        }
        var winner: (name: String, votes: Int)?
        for choice in firstChoice where votes[choice, default: 0] > winner?.votes ?? 0 {
            winner = (choice, votes[choice, default: 0])
        }
        return winner?.name
    }

    /// Subscribed topics from the members' consumer-protocol metadata; nil when the group is
    /// not a consumer group or a subscription cannot be read.
    func computeSubscribedTopics() -> Set<String>? {
        guard protocolType == "consumer", let protocolName else { return nil }
        var topics: Set<String> = []
        for member in members.values {
            var metadata = member.metadata(for: protocolName)
            guard metadata.readableBytes >= 2, let version: Int16 = metadata.getInteger(at: metadata.readerIndex) else { return nil }
            metadata.moveReaderIndex(forwardBy: 2)
            guard let subscription = try? ConsumerProtocolSubscription(from: &metadata, version: min(version, 3)) else { return nil }
            topics.formUnion(subscription.topics)
        }
        return topics
    }

    func snapshot() -> GroupSnapshot {
        GroupSnapshot(
            protocolType: protocolType, generationId: generationId, protocolName: protocolName, leaderId: leaderId,
            stateTimestampMs: stateTimestampMs,
            members: orderedMembers.map {
                GroupSnapshot.Member(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                                     clientHost: $0.clientHost, rebalanceTimeoutMs: $0.rebalanceTimeoutMs,
                                     sessionTimeoutMs: $0.sessionTimeoutMs, subscription: $0.metadata(for: protocolName),
                                     assignment: $0.assignment)
            })
    }
}
