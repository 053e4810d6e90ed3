import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage

/// The classic protocol's membership requests: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.
extension GroupCoordinator {
    // MARK: JoinGroup

    public func joinGroup(_ request: JoinGroupInput, completion: @escaping (JoinGroupResult) -> Void) {
        let now = clock()
        guard !request.groupId.isEmpty else { return completion(JoinGroupResult(error: .invalidGroupId, memberId: request.memberId)) }
        guard request.sessionTimeoutMs >= config.minSessionTimeoutMs, request.sessionTimeoutMs <= config.maxSessionTimeoutMs else {
            return completion(JoinGroupResult(error: .invalidSessionTimeout, memberId: request.memberId))
        }
        let group: ClassicGroup
        if let existing = groups[request.groupId] {
            group = existing
        } else {
            guard request.memberId.isEmpty else { return completion(JoinGroupResult(error: .unknownMemberId, memberId: request.memberId)) }
            group = makeGroup(request.groupId, nowMs: now)
        }
        guard group.supports(protocolType: request.protocolType, protocols: request.protocols) else {
            forgetIfUnused(group)
            return completion(JoinGroupResult(error: .inconsistentGroupProtocol, memberId: request.memberId))
        }
        if request.memberId.isEmpty {
            joinUnknownMember(group, request, nowMs: now, completion: completion)
        } else {
            joinKnownMember(group, request, nowMs: now, completion: completion)
        }
        checkJoinCompletion(group, nowMs: now)
        scheduleExpiry(group)
    }

    func joinUnknownMember(_ group: ClassicGroup, _ request: JoinGroupInput, nowMs now: Int64,
                                   completion: @escaping (JoinGroupResult) -> Void) {
        let memberId = newMemberId(request.clientId)
        if let instanceId = request.groupInstanceId, let oldMemberId = group.staticMemberId(for: instanceId) {
            rejoinStaticMember(group, request, instanceId: instanceId, oldMemberId: oldMemberId, newMemberId: memberId,
                               nowMs: now, completion: completion)
            return
        }
        guard group.members.count < config.maxGroupSize else {
            forgetIfUnused(group)
            return completion(JoinGroupResult(error: .groupMaxSizeReached, memberId: request.memberId))
        }
        if request.groupInstanceId == nil && request.requireKnownMemberId {
            group.pendingMembers[memberId] = now + Int64(request.sessionTimeoutMs)
            return completion(JoinGroupResult(error: .memberIdRequired, memberId: memberId))
        }
        addMemberAndRebalance(group, request, memberId: memberId, nowMs: now, completion: completion)
    }

    func joinKnownMember(_ group: ClassicGroup, _ request: JoinGroupInput, nowMs now: Int64,
                                 completion: @escaping (JoinGroupResult) -> Void) {
        let memberId = request.memberId
        if group.pendingMembers[memberId] != nil {
            guard group.members.count < config.maxGroupSize else {
                group.pendingMembers.removeValue(forKey: memberId)
                return completion(JoinGroupResult(error: .groupMaxSizeReached, memberId: memberId))
            }
            addMemberAndRebalance(group, request, memberId: memberId, nowMs: now, completion: completion)
            return
        }
        if group.isFenced(memberId: memberId, instanceId: request.groupInstanceId) {
            return completion(JoinGroupResult(error: .fencedInstanceId, memberId: memberId))
        }
        guard let member = group.members[memberId] else {
            return completion(JoinGroupResult(error: .unknownMemberId, memberId: memberId))
        }
        switch group.state {
        case .preparingRebalance:
            updateMemberAndRebalance(group, member, request, nowMs: now, completion: completion)
        case .completingRebalance:
            if member.matches(request.protocols) {
                // A duplicate join (the response was lost): answer with the current generation.
                completion(currentGenerationResult(group, for: memberId))
            } else {
                updateMemberAndRebalance(group, member, request, nowMs: now, completion: completion)
            }
        case .stable:
            if group.isLeader(memberId) || !member.matches(request.protocols) {
                // The leader rejoining (metadata changed, say) or a changed subscription rebalances.
                updateMemberAndRebalance(group, member, request, nowMs: now, completion: completion)
            } else {
                member.lastHeartbeatMs = now
                completion(currentGenerationResult(group, for: memberId))
            }
        case .empty, .dead:
            completion(JoinGroupResult(error: .unknownMemberId, memberId: memberId))
        }
    }

    func rejoinStaticMember(_ group: ClassicGroup, _ request: JoinGroupInput, instanceId: String, oldMemberId: String,
                                    newMemberId: String, nowMs now: Int64, completion: @escaping (JoinGroupResult) -> Void) {
        guard let old = group.members[oldMemberId] else { return }
        // The previous incarnation is fenced: whatever it still waits for fails.
        old.joinCallback.map { callback in
            old.joinCallback = nil
            callback(JoinGroupResult(error: .fencedInstanceId, memberId: oldMemberId))
        }
        old.syncCallback.map { callback in
            old.syncCallback = nil
            callback(SyncGroupResult(error: .fencedInstanceId))
        }
        let protocolsChanged = !old.matches(request.protocols)
        guard let member = group.replaceStaticMember(instanceId: instanceId, oldMemberId: oldMemberId, newMemberId: newMemberId) else { return }
        member.lastHeartbeatMs = now
        logger.info("static member rejoined", metadata: ["group": "\(group.groupId)", "instance": "\(instanceId)", "member": "\(newMemberId)"])
        switch group.state {
        case .stable where !protocolsChanged:
            // Same subscription: keep the assignment, no rebalance (KIP-345); make the new id durable first.
            member.rebalanceTimeoutMs = request.rebalanceTimeoutMs
            member.sessionTimeoutMs = request.sessionTimeoutMs
            let generation = group.generationId
            persist([.group(group.groupId, group.snapshot())]) { [self] result in
                defer { scheduleExpiry(group) }
                switch result {
                case .success:
                    completion(currentGenerationResult(group, for: newMemberId))
                case .failure:
                    // Undo the replacement so the old incarnation is not lost without a rebalance.
                    if group.generationId == generation, group.has(newMemberId) {
                        _ = group.replaceStaticMember(instanceId: instanceId, oldMemberId: newMemberId, newMemberId: oldMemberId)
                    }
                    completion(JoinGroupResult(error: .coordinatorNotAvailable, memberId: newMemberId))
                }
            }
        default:
            updateMemberAndRebalance(group, member, request, nowMs: now, completion: completion)
        }
    }

    func addMemberAndRebalance(_ group: ClassicGroup, _ request: JoinGroupInput, memberId: String, nowMs now: Int64,
                                       completion: @escaping (JoinGroupResult) -> Void) {
        let member = GroupMember(
            memberId: memberId, groupInstanceId: request.groupInstanceId, clientId: request.clientId, clientHost: request.clientHost,
            rebalanceTimeoutMs: request.rebalanceTimeoutMs, sessionTimeoutMs: request.sessionTimeoutMs,
            protocols: request.protocols, nowMs: now)
        member.isNew = true
        member.joinCallback = completion
        if group.isEmptyOfMembers { group.protocolType = request.protocolType }
        group.add(member)
        group.pendingMembers.removeValue(forKey: memberId)
        if group.state == .preparingRebalance && group.generationId == 0 { group.newMemberAdded = true }
        maybePrepareRebalance(group, nowMs: now, reason: "member \(memberId) joined")
    }

    func updateMemberAndRebalance(_ group: ClassicGroup, _ member: GroupMember, _ request: JoinGroupInput, nowMs now: Int64,
                                          completion: @escaping (JoinGroupResult) -> Void) {
        member.protocols = request.protocols
        member.rebalanceTimeoutMs = request.rebalanceTimeoutMs
        member.sessionTimeoutMs = request.sessionTimeoutMs
        member.lastHeartbeatMs = now
        if let previous = member.joinCallback {
            // A second JoinGroup from the same member (from another connection, after the client
            // gave up on the first) replaces the first; the first is told to rejoin.
            previous(JoinGroupResult(error: .rebalanceInProgress, memberId: member.memberId))
        }
        member.joinCallback = completion
        maybePrepareRebalance(group, nowMs: now, reason: "member \(member.memberId) rejoined")
    }

    func currentGenerationResult(_ group: ClassicGroup, for memberId: String) -> JoinGroupResult {
        var result = JoinGroupResult(error: .none, memberId: memberId)
        result.generationId = group.generationId
        result.protocolType = group.protocolType
        result.protocolName = group.protocolName
        result.leaderId = group.leaderId ?? ""
        if group.isLeader(memberId) {
            result.members = group.orderedMembers.map {
                JoinedMember(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata(for: group.protocolName))
            }
        }
        return result
    }

    func maybePrepareRebalance(_ group: ClassicGroup, nowMs now: Int64, reason: String) {
        switch group.state {
        case .stable, .completingRebalance, .empty: prepareRebalance(group, nowMs: now, reason: reason)
        case .preparingRebalance, .dead: break
        }
    }

    func prepareRebalance(_ group: ClassicGroup, nowMs now: Int64, reason: String) {
        if group.state == .completingRebalance {
            resetAndPropagateAssignmentError(group, .rebalanceInProgress)
        }
        group.pendingSyncMembers.removeAll()
        group.syncDeadlineMs = nil
        if group.state == .empty {
            let delay = config.initialRebalanceDelayMs
            group.initialDelay = (delay, max(group.maxRebalanceTimeoutMs - delay, 0))
            group.joinDeadlineMs = now + delay
        } else {
            group.initialDelay = nil
            group.joinDeadlineMs = now + group.maxRebalanceTimeoutMs
        }
        group.transition(to: .preparingRebalance, nowMs: now)
        logger.info("preparing to rebalance group", metadata: [
            "group": "\(group.groupId)", "generation": "\(group.generationId)", "reason": "\(reason)"])
    }

    func resetAndPropagateAssignmentError(_ group: ClassicGroup, _ error: KafkaErrorCode) {
        for member in group.orderedMembers {
            member.assignment = ByteBuffer()
            if let callback = member.syncCallback {
                member.syncCallback = nil
                callback(SyncGroupResult(error: error))
            }
        }
    }

    /// Completes the join phase when every member has rejoined, or when its deadline passes.
    func checkJoinCompletion(_ group: ClassicGroup, nowMs now: Int64) {
        guard group.state == .preparingRebalance, let deadline = group.joinDeadlineMs else { return }
        if let initial = group.initialDelay {
            guard now >= deadline else { return }
            if group.newMemberAdded && initial.remainingMs > 0 {
                group.newMemberAdded = false
                let delay = min(config.initialRebalanceDelayMs, initial.remainingMs)
                group.initialDelay = (delay, max(initial.remainingMs - delay, 0))
                group.joinDeadlineMs = now + delay
                return
            }
        } else if !(group.allMembersJoined || now >= deadline) {
            return
        }
        completeJoin(group, nowMs: now)
    }

    func completeJoin(_ group: ClassicGroup, nowMs now: Int64) {
        group.joinDeadlineMs = nil
        group.initialDelay = nil
        group.newMemberAdded = false
        for member in group.orderedMembers where member.joinCallback == nil {
            logger.info("member did not rejoin in time", metadata: ["group": "\(group.groupId)", "member": "\(member.memberId)"])
            group.remove(member.memberId)
        }
        if let leader = group.leaderId, group.members[leader]?.joinCallback == nil {
            group.leaderId = group.orderedMembers.first?.memberId
        }
        group.generationId &+= 1
        if group.isEmptyOfMembers {
            group.protocolName = nil
            group.subscribedTopics = nil
            group.transition(to: .empty, nowMs: now)
            persist([.group(group.groupId, group.snapshot())]) { [logger] result in
                if case .failure(let error) = result {
                    logger.error("could not store empty group", metadata: ["group": "\(group.groupId)", "error": "\(error)"])
                }
            }
            logger.info("group is empty", metadata: ["group": "\(group.groupId)", "generation": "\(group.generationId)"])
            return
        }
        group.protocolName = group.selectProtocol()
        group.subscribedTopics = group.computeSubscribedTopics()
        group.transition(to: .completingRebalance, nowMs: now)
        group.pendingSyncMembers = Set(group.members.keys)
        group.syncDeadlineMs = now + group.maxRebalanceTimeoutMs
        logger.info("group rebalanced", metadata: [
            "group": "\(group.groupId)", "generation": "\(group.generationId)", "members": "\(group.members.count)",
            "protocol": "\(group.protocolName ?? "")", "leader": "\(group.leaderId ?? "")"])
        for member in group.orderedMembers {
            guard let callback = member.joinCallback else { continue }
            member.joinCallback = nil
            member.isNew = false
            member.lastHeartbeatMs = now
            callback(currentGenerationResult(group, for: member.memberId))
        }
    }

    // MARK: SyncGroup

    public func syncGroup(_ request: SyncGroupInput, completion: @escaping (SyncGroupResult) -> Void) {
        let now = clock()
        guard let group = groups[request.groupId] else { return completion(SyncGroupResult(error: .unknownMemberId)) }
        if group.isFenced(memberId: request.memberId, instanceId: request.groupInstanceId) {
            return completion(SyncGroupResult(error: .fencedInstanceId))
        }
        guard let member = group.members[request.memberId] else { return completion(SyncGroupResult(error: .unknownMemberId)) }
        guard request.generationId == group.generationId else { return completion(SyncGroupResult(error: .illegalGeneration)) }
        if let type = request.protocolType, type != group.protocolType { return completion(SyncGroupResult(error: .inconsistentGroupProtocol)) }
        if let name = request.protocolName, name != group.protocolName { return completion(SyncGroupResult(error: .inconsistentGroupProtocol)) }
        member.lastHeartbeatMs = now
        defer { scheduleExpiry(group) }
        switch group.state {
        case .empty:
            completion(SyncGroupResult(error: .unknownMemberId))
        case .preparingRebalance:
            completion(SyncGroupResult(error: .rebalanceInProgress))
        case .completingRebalance:
            member.syncCallback = completion
            markSynced(group, request.memberId)
            guard group.isLeader(request.memberId) else { return }
            let generation = group.generationId
            let snapshot = snapshotWithAssignments(group, request.assignments)
            persist([.group(group.groupId, snapshot)]) { [self] result in
                defer { scheduleExpiry(group) }
                guard group.state == .completingRebalance, group.generationId == generation else { return }
                switch result {
                case .success:
                    for stored in snapshot.members { group.members[stored.memberId]?.assignment = stored.assignment }
                    group.transition(to: .stable, nowMs: clock())
                    for member in group.orderedMembers {
                        guard let callback = member.syncCallback else { continue }
                        member.syncCallback = nil
                        callback(SyncGroupResult(error: .none, protocolType: group.protocolType, protocolName: group.protocolName,
                                                 assignment: member.assignment))
                    }
                case .failure(let error):
                    logger.error("could not store group assignment", metadata: ["group": "\(group.groupId)", "error": "\(error)"])
                    resetAndPropagateAssignmentError(group, .coordinatorNotAvailable)
                    maybePrepareRebalance(group, nowMs: clock(), reason: "storing the assignment failed")
                }
            }
        case .stable:
            markSynced(group, request.memberId)
            completion(SyncGroupResult(error: .none, protocolType: group.protocolType, protocolName: group.protocolName,
                                       assignment: member.assignment))
        case .dead:
            completion(SyncGroupResult(error: .coordinatorNotAvailable))
        }
    }

    func markSynced(_ group: ClassicGroup, _ memberId: String) {
        group.pendingSyncMembers.remove(memberId)
        if group.pendingSyncMembers.isEmpty { group.syncDeadlineMs = nil }
    }

    func snapshotWithAssignments(_ group: ClassicGroup, _ assignments: [String: ByteBuffer]) -> GroupSnapshot {
        var snapshot = group.snapshot()
        for index in snapshot.members.indices {
            // Members the leader left out get an empty assignment, as in Kafka.
            snapshot.members[index].assignment = assignments[snapshot.members[index].memberId] ?? ByteBuffer()
        }
        return snapshot
    }

    // MARK: Heartbeat

    public func heartbeat(groupId: String, generationId: Int32, memberId: String, groupInstanceId: String?) -> KafkaErrorCode {
        let now = clock()
        guard let group = groups[groupId] else { return .unknownMemberId }
        if group.isFenced(memberId: memberId, instanceId: groupInstanceId) { return .fencedInstanceId }
        guard let member = group.members[memberId] else { return .unknownMemberId }
        guard generationId == group.generationId else { return .illegalGeneration }
        switch group.state {
        case .empty: return .unknownMemberId
        case .dead: return .coordinatorNotAvailable
        case .completingRebalance, .stable:
            member.lastHeartbeatMs = now
            return .none
        case .preparingRebalance:
            member.lastHeartbeatMs = now
            return .rebalanceInProgress
        }
    }

    // MARK: LeaveGroup

    public func leaveGroup(groupId: String, members leaving: [LeavingMember]) -> LeaveGroupResult {
        let now = clock()
        guard !groupId.isEmpty else { return LeaveGroupResult(error: .invalidGroupId, members: []) }
        guard let group = groups[groupId] else {
            return LeaveGroupResult(error: .none, members: leaving.map { ($0, .unknownMemberId) })
        }
        var results: [(member: LeavingMember, error: KafkaErrorCode)] = []
        for leaver in leaving {
            if leaver.memberId.isEmpty {
                if let instanceId = leaver.groupInstanceId, let current = group.staticMemberId(for: instanceId) {
                    removeMemberAndUpdateGroup(group, current, nowMs: now, reason: "static member \(instanceId) left")
                    results.append((leaver, .none))
                } else {
                    results.append((leaver, .unknownMemberId))
                }
            } else if group.pendingMembers.removeValue(forKey: leaver.memberId) != nil {
                checkJoinCompletion(group, nowMs: now)
                results.append((leaver, .none))
            } else if group.isFenced(memberId: leaver.memberId, instanceId: leaver.groupInstanceId) {
                results.append((leaver, .fencedInstanceId))
            } else if !group.has(leaver.memberId) {
                results.append((leaver, .unknownMemberId))
            } else {
                if group.state == .preparingRebalance {
                    // The rebalance already under way does not log a reason for this one.
                    logger.info("member left during a rebalance", metadata: ["group": "\(group.groupId)", "member": "\(leaver.memberId)"])
                }
                removeMemberAndUpdateGroup(group, leaver.memberId, nowMs: now, reason: "member \(leaver.memberId) left")
                results.append((leaver, .none))
            }
        }
        scheduleExpiry(group)
        return LeaveGroupResult(error: .none, members: results)
    }

    func removeMemberAndUpdateGroup(_ group: ClassicGroup, _ memberId: String, nowMs now: Int64, reason: String) {
        guard let member = group.remove(memberId) else { return }
        if let callback = member.joinCallback {
            member.joinCallback = nil
            callback(JoinGroupResult(error: .unknownMemberId, memberId: memberId))
        }
        if let callback = member.syncCallback {
            member.syncCallback = nil
            callback(SyncGroupResult(error: .unknownMemberId))
        }
        switch group.state {
        case .dead, .empty: break
        case .stable, .completingRebalance:
            maybePrepareRebalance(group, nowMs: now, reason: reason)
            // The last member leaving completes the (empty) rebalance at once.
            checkJoinCompletion(group, nowMs: now)
        case .preparingRebalance: checkJoinCompletion(group, nowMs: now)
        }
    }
}
