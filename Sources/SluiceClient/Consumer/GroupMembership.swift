import KafkaProtocol
import Logging
import NIOCore

/// What happens to a subscribed consumer's partitions.
public enum ConsumerEvent: Sendable {
    /// Partitions taken away (eager protocol: all of them, before every rebalance); their
    /// positions were committed first when auto-commit is on.
    case revoked([TopicPartition])
    /// The partitions this member now owns.
    case assigned([TopicPartition])
    /// An error the membership recovers from by itself, reported for visibility.
    case error(KafkaClientError)
}

/// The classic group protocol from the member's side: join (with MEMBER_ID_REQUIRED from
/// v4), range-assign when leader, sync, heartbeat, rejoin when told, leave on close.
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
                try await joinAndSync()
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

    private func joinAndSync() async throws {
        await revokeAll()
        while true {
            let coordinator = try await cluster.coordinator(for: group)
            let subscription = ConsumerProtocol.encodeSubscription(topics: topics)
            let join = JoinGroupRequest(
                groupId: group, sessionTimeoutMs: Int32(clamping: config.sessionTimeout.milliseconds),
                rebalanceTimeoutMs: Int32(clamping: config.rebalanceTimeout.milliseconds), memberId: memberId,
                groupInstanceId: config.groupInstanceId, protocolType: ConsumerProtocol.protocolType,
                protocols: [.init(name: RangeAssignor.name, metadata: subscription)])
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
                continue
            case .rebalanceInProgress:
                continue
            default:
                throw KafkaClientError.broker(code, "JoinGroup \(group)")
            }
            memberId = joined.memberId
            generation = joined.generationId
            var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
            if joined.leader == joined.memberId {
                assignments = try await assign(members: joined.members)
            }
            let sync = SyncGroupRequest(groupId: group, generationId: generation, memberId: memberId,
                                        groupInstanceId: config.groupInstanceId, protocolType: ConsumerProtocol.protocolType,
                                        protocolName: joined.protocolName ?? RangeAssignor.name, assignments: assignments)
            let (synced, _) = try await coordinator.send(sync, versions: 0...5, timeout: config.rebalanceTimeout + config.client.requestTimeout)
            let syncCode = KafkaErrorCode(rawValue: synced.errorCode)
            switch syncCode {
            case .none: break
            case .rebalanceInProgress: continue
            case .unknownMemberId, .illegalGeneration:
                if syncCode == .unknownMemberId { memberId = "" }
                continue
            default:
                throw KafkaClientError.broker(syncCode, "SyncGroup \(group)")
            }
            owned = ConsumerProtocol.decodeAssignment(synced.assignment)
            try await consumer.assign(owned)
            logger.info("joined group", metadata: ["group": "\(group)", "generation": "\(generation)", "partitions": "\(owned)"])
            events.yield(.assigned(owned))
            return
        }
    }

    /// The leader's job: range-assign the members' subscribed topics.
    private func assign(members: [JoinGroupResponse.JoinGroupResponseMember]) async throws -> [SyncGroupRequest.SyncGroupRequestAssignment] {
        var subscriptions: [String: [String]] = [:]
        for member in members {
            subscriptions[member.memberId] = ConsumerProtocol.decodeSubscription(member.metadata)?.topics ?? []
        }
        var counts: [String: Int32] = [:]
        for topic in Set(subscriptions.values.flatMap { $0 }) {
            await cluster.invalidate(topic: topic)
            if let metadata = try? await cluster.topic(topic) { counts[topic] = Int32(metadata.partitions.count) }
        }
        return RangeAssignor.assign(subscriptions: subscriptions, partitionCounts: counts).map {
            .init(memberId: $0.key, assignment: ConsumerProtocol.encodeAssignment($0.value))
        }
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
                return
            default:
                throw KafkaClientError.broker(code, "Heartbeat \(group)")
            }
        }
    }

    /// Eager protocol: commit and give up everything before rejoining.
    private func revokeAll() async {
        guard !owned.isEmpty else { return }
        if config.enableAutoCommit { try? await commitPositions() }
        let revoked = owned
        owned = []
        try? await consumer.assign([])
        events.yield(.revoked(revoked))
    }

    func commitPositions(_ offsets: [TopicPartition: Int64]? = nil) async throws {
        let positions = offsets ?? consumer.consumedPositions()
        guard !positions.isEmpty else { return }
        try await KafkaAdminCalls(cluster: cluster).commit(group: group, positions, generation: generation, memberId: memberId,
                                                           groupInstanceId: config.groupInstanceId)
    }

    /// Commits (with auto-commit), leaves the group, and stops.
    func leave() async {
        stopping = true
        if config.enableAutoCommit && !owned.isEmpty { try? await commitPositions() }
        if !owned.isEmpty { events.yield(.revoked(owned)) }
        owned = []
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
