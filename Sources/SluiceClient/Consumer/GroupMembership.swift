import KafkaProtocol
import Logging
import NIOCore

/// What happens to a subscribed consumer's partitions.
public enum ConsumerEvent: Sendable {
    /// Partitions taken away: with an eager assignor all of them, before every rebalance; with
    /// a cooperative one only those moving to another member. Their positions were committed
    /// first when auto-commit is on.
    case revoked([TopicPartition])
    /// Partitions this member gained in a completed rebalance (with an eager assignor, all it
    /// owns; with a cooperative one possibly none).
    case assigned([TopicPartition])
    /// An error the membership recovers from by itself, reported for visibility.
    case error(KafkaClientError)
}

/// The classic group protocol from the member's side: join (with MEMBER_ID_REQUIRED from
/// v4), assign when leader, sync, heartbeat, rejoin when told, leave on close. With eager
/// assignors everything is revoked before each join; with cooperative ones (KIP-429) the
/// member keeps its partitions, reports them in its subscription, gives up only what the new
/// assignment takes away, and then rejoins so the moved partitions reach their new owners.
actor GroupMembership {
    private let consumer: KafkaConsumer
    private let cluster: KafkaCluster
    private let group: String
    private let topics: [String]
    private let config: KafkaConsumerConfig
    private let logger: Logger
    private let events: AsyncStream<ConsumerEvent>.Continuation
    private(set) var memberId = ""
    private(set) var generation: Int32 = -1
    private var owned: [TopicPartition] = []
    private var stopping = false
    /// Set when the coordinator no longer knows this member's generation: its partitions are
    /// lost and given up even under the cooperative protocol.
    private var lost = false
    private var cooperative: Bool { config.assignmentStrategies.allSatisfy(\.isCooperative) }

    init(consumer: KafkaConsumer, group: String, topics: [String], config: KafkaConsumerConfig, logger: Logger,
         events: AsyncStream<ConsumerEvent>.Continuation) {
        self.consumer = consumer
        self.cluster = consumer.cluster
        self.group = group
        self.topics = topics
        self.config = config
        self.logger = logger
        self.events = events
    }

    var identity: (memberId: String, generation: Int32) { (memberId, generation) }

    func run() async {
        while !stopping && !Task.isCancelled {
            do {
                if try await joinAndSync() { continue }
                try await heartbeatUntilRebalance()
            } catch let error as KafkaClientError {
                if stopping { break }
                events.yield(.error(error))
                if error.code == .notCoordinator || error.code == .coordinatorNotAvailable || error.kind == .connection
                    || error.kind == .timeout {
                    await cluster.invalidateCoordinator(for: group)
                }
                try? await Task.sleep(for: config.client.retryBackoff)
            } catch {
                if stopping || Task.isCancelled { break }
                try? await Task.sleep(for: config.client.retryBackoff)
            }
        }
    }

    /// Joins and syncs; true when the member must rejoin at once (it revoked partitions under
    /// the cooperative protocol, and their new owners wait for the next rebalance).
    private func joinAndSync() async throws -> Bool {
        if !cooperative || lost { await revokeAll(committing: !lost) }
        lost = false
        let strategies = config.assignmentStrategies.isEmpty ? [PartitionAssignmentStrategy.range] : config.assignmentStrategies
        while !stopping {
            let coordinator = try await cluster.coordinator(for: group)
            let subscription = ConsumerProtocol.encodeSubscription(topics: topics, ownedPartitions: owned, generation: generation,
                                                                   version: 3)
            let join = JoinGroupRequest(
                groupId: group, sessionTimeoutMs: Int32(clamping: config.sessionTimeout.milliseconds),
                rebalanceTimeoutMs: Int32(clamping: config.rebalanceTimeout.milliseconds), memberId: memberId,
                groupInstanceId: config.groupInstanceId, protocolType: ConsumerProtocol.protocolType,
                protocols: strategies.map { .init(name: $0.rawValue, metadata: subscription) })
            let (joined, _) = try await coordinator.send(join, versions: 0...9,
                                                         timeout: config.rebalanceTimeout + config.client.requestTimeout)
            let code = KafkaErrorCode(rawValue: joined.errorCode)
            switch code {
            case .none: break
            case .memberIdRequired:
                memberId = joined.memberId
                continue
            case .unknownMemberId, .illegalGeneration:
                memberId = ""
                await revokeAll(committing: false)
                continue
            case .rebalanceInProgress:
                continue
            default:
                throw KafkaClientError.broker(code, "JoinGroup \(group)")
            }
            memberId = joined.memberId
            // Closing while the join was in flight: the coordinator counts us as a member now,
            // so stop here and let `leave` take us out instead of waiting for the session timeout.
            if stopping { return false }
            let protocolName = joined.protocolName ?? strategies[0].rawValue
            var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
            if joined.leader == joined.memberId {
                assignments = try await assign(members: joined.members, protocolName: protocolName)
            }
            let sync = SyncGroupRequest(groupId: group, generationId: joined.generationId, memberId: memberId,
                                        groupInstanceId: config.groupInstanceId, protocolType: ConsumerProtocol.protocolType,
                                        protocolName: protocolName, assignments: assignments)
            let (synced, _) = try await coordinator.send(sync, versions: 0...5, timeout: config.rebalanceTimeout + config.client.requestTimeout)
            let syncCode = KafkaErrorCode(rawValue: synced.errorCode)
            switch syncCode {
            case .none: break
            case .rebalanceInProgress: continue
            case .unknownMemberId, .illegalGeneration:
                if syncCode == .unknownMemberId { memberId = "" }
                await revokeAll(committing: false)
                continue
            default:
                throw KafkaClientError.broker(syncCode, "SyncGroup \(group)")
            }
            generation = joined.generationId
            let assigned = ConsumerProtocol.decodeAssignment(synced.assignment)
            let revoked = owned.filter { !assigned.contains($0) }
            let added = assigned.filter { !owned.contains($0) }
            if !revoked.isEmpty {
                if config.enableAutoCommit {
                    let positions = consumer.committablePositions().filter { revoked.contains($0.key) }
                    try? await commitPositions(positions)
                }
                events.yield(.revoked(revoked))
            }
            owned = assigned
            try await consumer.assign(owned)
            logger.info("joined group", metadata: ["group": "\(group)", "generation": "\(generation)", "protocol": "\(protocolName)",
                                                   "partitions": "\(owned)"])
            events.yield(.assigned(added))
            return !revoked.isEmpty
        }
        return false
    }

    /// The leader's job: assign the members' subscribed topics with the chosen assignor.
    private func assign(members: [JoinGroupResponse.JoinGroupResponseMember], protocolName: String) async throws
        -> [SyncGroupRequest.SyncGroupRequestAssignment] {
        var parsed: [CooperativeStickyAssignor.Member] = []
        for member in members {
            let subscription = ConsumerProtocol.decodeSubscription(member.metadata)
            parsed.append(.init(
                id: member.memberId, topics: Set(subscription?.topics ?? []),
                owned: subscription?.ownedPartitions.flatMap { topic in topic.partitions.map { TopicPartition(topic.topic, $0) } } ?? [],
                generation: subscription?.generationId ?? -1))
        }
        var counts: [String: Int32] = [:]
        for topic in Set(parsed.flatMap(\.topics)) {
            await cluster.invalidate(topic: topic)
            if let metadata = try? await cluster.topic(topic) { counts[topic] = Int32(metadata.partitions.count) }
        }
        let result: [String: [TopicPartition]]
        switch PartitionAssignmentStrategy(rawValue: protocolName) {
        case .cooperativeSticky:
            result = CooperativeStickyAssignor.assign(members: parsed, partitionCounts: counts)
        case .range, nil:
            result = RangeAssignor.assign(subscriptions: Dictionary(uniqueKeysWithValues: parsed.map { ($0.id, Array($0.topics)) }),
                                          partitionCounts: counts)
        }
        return result.map { .init(memberId: $0.key, assignment: ConsumerProtocol.encodeAssignment($0.value)) }
    }

    private func heartbeatUntilRebalance() async throws {
        var lastCommit = ContinuousClock.now
        while !stopping {
            try await Task.sleep(for: config.heartbeatInterval)
            if stopping { return }
            if config.enableAutoCommit && ContinuousClock.now - lastCommit >= config.autoCommitInterval {
                try? await commitPositions()
                lastCommit = .now
            }
            let coordinator = try await cluster.coordinator(for: group)
            let request = HeartbeatRequest(groupId: group, generationId: generation, memberId: memberId, groupInstanceId: config.groupInstanceId)
            let (response, _) = try await coordinator.send(request, versions: 0...4, timeout: config.client.requestTimeout)
            let code = KafkaErrorCode(rawValue: response.errorCode)
            switch code {
            case .none: continue
            case .rebalanceInProgress: return
            case .unknownMemberId, .illegalGeneration, .fencedInstanceId:
                if code == .unknownMemberId { memberId = "" }
                generation = -1
                lost = true
                return
            default:
                throw KafkaClientError.broker(code, "Heartbeat \(group)")
            }
        }
    }

    /// Eager protocol (and lost partitions): give up everything before rejoining, committing
    /// first unless the generation is gone (such a commit is refused).
    private func revokeAll(committing: Bool) async {
        guard !owned.isEmpty else { return }
        if config.enableAutoCommit && committing { try? await commitPositions() }
        let revoked = owned
        owned = []
        try? await consumer.assign([])
        events.yield(.revoked(revoked))
    }

    func commitPositions(_ offsets: [TopicPartition: Int64]? = nil) async throws {
        let positions = offsets ?? consumer.committablePositions()
        guard !positions.isEmpty else { return }
        try await KafkaAdminCalls(cluster: cluster).commit(group: group, positions, generation: generation, memberId: memberId,
                                                           groupInstanceId: config.groupInstanceId)
    }

    /// Stops taking part: commits (with auto-commit) and gives up the partitions. A join in
    /// flight still completes, so that `leave` knows the member id to leave with.
    func stop() async {
        guard !stopping else { return }
        stopping = true
        if config.enableAutoCommit && !owned.isEmpty { try? await commitPositions() }
        if !owned.isEmpty { events.yield(.revoked(owned)) }
        owned = []
    }

    /// Leaves the group (LeaveGroup), after `stop` and once `run` has returned. Static members
    /// do not leave: their session timeout keeps their place for a restart.
    func leave() async {
        await stop()
        guard !memberId.isEmpty, config.groupInstanceId == nil,
              let coordinator = try? await cluster.coordinator(for: group) else { return }
        guard let version = try? coordinator.version(for: .leaveGroup, clientRange: 0...5) else { return }
        // v0–2 name one member at the top level; v3+ a list (the top-level field is gone).
        let request = version >= 3
            ? LeaveGroupRequest(groupId: group, members: [.init(memberId: memberId)])
            : LeaveGroupRequest(groupId: group, memberId: memberId)
        do {
            let response = try await coordinator.send(request, version: version, timeout: config.client.requestTimeout)
            let code = KafkaErrorCode(rawValue: response.members.first?.errorCode ?? response.errorCode)
            if code != .none { logger.info("LeaveGroup answered", metadata: ["group": "\(group)", "error": "\(code.name)"]) }
        } catch {
            logger.info("LeaveGroup failed; the session will time out instead", metadata: ["group": "\(group)", "error": "\(error)"])
        }
    }
}
