import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage

/// The group coordinator for the classic rebalance protocol, as Apache Kafka's
/// GroupCoordinator runs it: member ids, generations, the leader's assignment, session and
/// rebalance timeouts, static membership, committed offsets and their retention.
///
/// Ownership: every method must be called on `owner` (one event loop); the coordinator takes
/// no locks. Callbacks run on `owner` too. Time comes from the injected clock and deadlines
/// fire through `owner`'s one-shot timers (`GroupDeadlines`), so tests drive it with a manual
/// clock and scheduler and no sockets.
public final class GroupCoordinator: @unchecked Sendable {
    // @unchecked: confined to `owner`, the documented contract above.
    public let owner: any LogOwnerExecutor
    private let config: GroupCoordinatorConfig
    private let store: any GroupStore
    private let clock: @Sendable () -> Int64
    private let logger: Logger
    private let newMemberId: (String) -> String
    private var groups: [String: ClassicGroup] = [:]
    private var timers: [any LogScheduledTask] = []
    private var deadlines = GroupDeadlines()
    /// The one-shot timer armed for `deadlines.earliest`.
    private var armedDeadline: (atMs: Int64, task: any LogScheduledTask)?
    private var stopped = false

    /// Store writes not yet completed; a compaction waits for none to be in flight (its copy
    /// holds only completed values), and writes arriving meanwhile wait for it.
    private var writesInFlight = 0
    private var compaction: CompactionState = .idle
    private var queuedWrites: [([GroupRecord], (Result<Void, any Error>) -> Void)] = []
    private var compactionThreshold: Int

    private enum CompactionState { case idle, due, running }

    /// Loads every group and committed offset from `store`.
    public init(config: GroupCoordinatorConfig, store: any GroupStore, owner: any LogOwnerExecutor,
                clock: @escaping @Sendable () -> Int64, logger: Logger,
                newMemberId: @escaping (String) -> String = { clientId in clientId + "-" + randomUUIDString() }) throws {
        self.config = config
        self.store = store
        self.owner = owner
        self.clock = clock
        self.logger = logger
        self.newMemberId = newMemberId
        self.compactionThreshold = config.compactionMinRecords
        try load()
    }

    // MARK: Loading

    private func load() throws {
        loadGroups(try store.loadRecords())
    }

    /// Adds the groups and committed offsets `records` hold (the whole store at start, or a
    /// partition of the offsets topic this broker has just become the leader of), later
    /// records replacing earlier ones.
    public func loadGroups(_ records: [GroupRecord]) {
        let now = clock()
        var touched = Set<String>()
        for record in records {
            switch record {
            case .offset(let groupId, let partition, let value):
                touched.insert(groupId)
                let group = groups[groupId] ?? makeGroup(groupId, nowMs: now)
                group.offsets[partition] = value
            case .group(let groupId, let snapshot):
                touched.insert(groupId)
                guard let snapshot else {
                    groups.removeValue(forKey: groupId)
                    continue
                }
                let group = makeGroup(groupId, nowMs: now, replacing: groups[groupId])
                group.protocolType = snapshot.protocolType
                group.generationId = snapshot.generationId
                group.protocolName = snapshot.protocolName
                for stored in snapshot.members {
                    let member = GroupMember(
                        memberId: stored.memberId, groupInstanceId: stored.groupInstanceId, clientId: stored.clientId,
                        clientHost: stored.clientHost, rebalanceTimeoutMs: stored.rebalanceTimeoutMs,
                        sessionTimeoutMs: stored.sessionTimeoutMs,
                        protocols: [GroupProtocol(name: snapshot.protocolName ?? "", metadata: stored.subscription)], nowMs: now)
                    member.assignment = stored.assignment
                    group.add(member)
                }
                group.leaderId = snapshot.leaderId.flatMap { group.has($0) ? $0 : nil } ?? group.orderedMembers.first?.memberId
                group.restore(state: group.isEmptyOfMembers ? .empty : .stable, timestampMs: snapshot.stateTimestampMs)
                group.subscribedTopics = group.computeSubscribedTopics()
            }
        }
        for groupId in touched {
            guard let group = groups[groupId] else { continue }
            if group.offsets.isEmpty && group.protocolType == nil {
                groups.removeValue(forKey: groupId)
            } else {
                scheduleExpiry(group)
            }
        }
        compactionThreshold = max(config.compactionMinRecords, 2 * liveRecordCount())
        logger.info("group coordinator loaded", metadata: [
            "groups": "\(touched.filter { groups[$0] != nil }.count)",
            "offsets": "\(touched.compactMap { groups[$0] }.reduce(0) { $0 + $1.offsets.count })", "records": "\(records.count)"])
    }

    /// Forgets the groups `moved` picks (a partition of the offsets topic this broker no longer
    /// leads: their new coordinator loads them from the log); members still waiting on a join
    /// or a sync get NOT_COORDINATOR and look the coordinator up again.
    public func unloadGroups(where moved: (String) -> Bool) {
        var unloaded = 0
        for (groupId, group) in groups where moved(groupId) {
            for member in group.orderedMembers {
                if let callback = member.joinCallback {
                    member.joinCallback = nil
                    callback(JoinGroupResult(error: .notCoordinator, memberId: member.memberId))
                }
                if let callback = member.syncCallback {
                    member.syncCallback = nil
                    callback(SyncGroupResult(error: .notCoordinator))
                }
            }
            groups.removeValue(forKey: groupId)
            unloaded += 1
        }
        if unloaded > 0 { logger.info("groups moved to another coordinator", metadata: ["groups": "\(unloaded)"]) }
    }

    private func makeGroup(_ groupId: String, nowMs: Int64, replacing old: ClassicGroup? = nil) -> ClassicGroup {
        let group = ClassicGroup(groupId: groupId, nowMs: nowMs)
        if let old { group.offsets = old.offsets }
        groups[groupId] = group
        return group
    }

    // MARK: Timers

    /// Starts offset expiry every offsets.retention.check.interval.ms (deadlines of members and
    /// rebalances have their own timers from the start).
    public func start() {
        timers.append(owner.scheduleRepeated(everyMs: max(1, config.offsetsRetentionCheckIntervalMs)) { [self] in expireOffsets() })
    }

    public func stop() {
        stopped = true
        timers.forEach { $0.cancel() }
        timers.removeAll()
        armedDeadline?.task.cancel()
        armedDeadline = nil
    }

    /// Closes the store at shutdown (after `stop`).
    public func closeLog() throws {
        try store.close()
    }

    /// Expires whatever is due in every group, whether or not its timer has fired.
    public func tick() {
        let now = clock()
        for group in Array(groups.values) {
            expire(group, nowMs: now)
            scheduleExpiry(group)
        }
    }

    /// Acts on the deadlines that have come due, then arms the timer for the next one.
    func expireDue() {
        let now = clock()
        for groupId in deadlines.popDue(nowMs: now) {
            guard let group = groups[groupId] else { continue }
            if let scheduled = group.scheduledDeadlineMs, scheduled <= now { group.scheduledDeadlineMs = nil }
            expire(group, nowMs: now)
            scheduleExpiry(group)
        }
        armDeadlineTimer()
    }

    /// Queues the group's next deadline when it is earlier than the one already queued (a
    /// deadline that moved later is found when the earlier entry comes due).
    private func scheduleExpiry(_ group: ClassicGroup) {
        guard groups[group.groupId] === group,
              let next = group.nextDeadlineMs(newMemberJoinTimeoutMs: config.newMemberJoinTimeoutMs) else { return }
        if let scheduled = group.scheduledDeadlineMs, scheduled <= next { return }
        group.scheduledDeadlineMs = next
        deadlines.insert(next, groupId: group.groupId)
        armDeadlineTimer()
    }

    private func armDeadlineTimer() {
        guard !stopped, let next = deadlines.earliest else { return }
        if let armed = armedDeadline, armed.atMs <= next { return }
        armedDeadline?.task.cancel()
        let task = owner.schedule(afterMs: max(0, next - clock())) { [self] in
            armedDeadline = nil
            expireDue()
        }
        armedDeadline = (next, task)
    }

    /// Groups whose next deadline is not queued: always empty unless a state change forgot to
    /// call `scheduleExpiry` (the simulation checks it after every step).
    func groupsWithUnscheduledDeadlines() -> [String] {
        groups.values.compactMap { group in
            guard let next = group.nextDeadlineMs(newMemberJoinTimeoutMs: config.newMemberJoinTimeoutMs) else { return nil }
            guard let scheduled = group.scheduledDeadlineMs, scheduled <= next else { return group.groupId }
            return nil
        }.sorted()
    }

    /// Expires what is due in one group: pending member ids, member sessions, its join or sync phase.
    private func expire(_ group: ClassicGroup, nowMs now: Int64) {
        for (memberId, deadline) in group.pendingMembers where deadline <= now {
            group.pendingMembers.removeValue(forKey: memberId)
            forgetIfUnused(group)
        }
        for member in group.orderedMembers
        where !member.shouldKeepAlive(nowMs: now, newMemberJoinTimeoutMs: config.newMemberJoinTimeoutMs) {
            logger.info("member session expired", metadata: ["group": "\(group.groupId)", "member": "\(member.memberId)"])
            removeMemberAndUpdateGroup(group, member.memberId, nowMs: now, reason: "session timeout")
        }
        if let deadline = group.syncDeadlineMs, now >= deadline {
            group.syncDeadlineMs = nil
            if group.state == .completingRebalance || group.state == .stable {
                for memberId in group.pendingSyncMembers {
                    logger.info("member did not sync in time", metadata: ["group": "\(group.groupId)", "member": "\(memberId)"])
                    removeMemberAndUpdateGroup(group, memberId, nowMs: now, reason: "no SyncGroup within the rebalance timeout")
                }
            }
        }
        checkJoinCompletion(group, nowMs: now)
    }

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

    private func joinUnknownMember(_ group: ClassicGroup, _ request: JoinGroupInput, nowMs now: Int64,
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

    private func joinKnownMember(_ group: ClassicGroup, _ request: JoinGroupInput, nowMs now: Int64,
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

    private func rejoinStaticMember(_ group: ClassicGroup, _ request: JoinGroupInput, instanceId: String, oldMemberId: String,
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

    private func addMemberAndRebalance(_ group: ClassicGroup, _ request: JoinGroupInput, memberId: String, nowMs now: Int64,
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

    private func updateMemberAndRebalance(_ group: ClassicGroup, _ member: GroupMember, _ request: JoinGroupInput, nowMs now: Int64,
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

    private func currentGenerationResult(_ group: ClassicGroup, for memberId: String) -> JoinGroupResult {
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

    private func maybePrepareRebalance(_ group: ClassicGroup, nowMs now: Int64, reason: String) {
        switch group.state {
        case .stable, .completingRebalance, .empty: prepareRebalance(group, nowMs: now, reason: reason)
        case .preparingRebalance, .dead: break
        }
    }

    private func prepareRebalance(_ group: ClassicGroup, nowMs now: Int64, reason: String) {
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

    private func resetAndPropagateAssignmentError(_ group: ClassicGroup, _ error: KafkaErrorCode) {
        for member in group.orderedMembers {
            member.assignment = ByteBuffer()
            if let callback = member.syncCallback {
                member.syncCallback = nil
                callback(SyncGroupResult(error: error))
            }
        }
    }

    /// Completes the join phase when every member has rejoined, or when its deadline passes.
    private func checkJoinCompletion(_ group: ClassicGroup, nowMs now: Int64) {
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

    private func completeJoin(_ group: ClassicGroup, nowMs now: Int64) {
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

    private func markSynced(_ group: ClassicGroup, _ memberId: String) {
        group.pendingSyncMembers.remove(memberId)
        if group.pendingSyncMembers.isEmpty { group.syncDeadlineMs = nil }
    }

    private func snapshotWithAssignments(_ group: ClassicGroup, _ assignments: [String: ByteBuffer]) -> GroupSnapshot {
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
                removeMemberAndUpdateGroup(group, leaver.memberId, nowMs: now, reason: "member \(leaver.memberId) left")
                results.append((leaver, .none))
            }
        }
        scheduleExpiry(group)
        return LeaveGroupResult(error: .none, members: results)
    }

    private func removeMemberAndUpdateGroup(_ group: ClassicGroup, _ memberId: String, nowMs now: Int64, reason: String) {
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

    // MARK: Offsets

    /// OffsetCommit: per-partition errors, once the accepted commits are durable.
    public func commitOffsets(_ request: OffsetCommitInput, completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void) {
        let now = clock()
        func failAll(_ error: KafkaErrorCode) {
            completion(Dictionary(request.entries.map { ($0.partition, error) }, uniquingKeysWith: { first, _ in first }))
        }
        guard !request.groupId.isEmpty else { return failAll(.invalidGroupId) }
        let group: ClassicGroup
        if let existing = groups[request.groupId] {
            group = existing
        } else if request.generationId < 0 {
            // Not using group management (assign() and commit): the group exists for its offsets.
            group = makeGroup(request.groupId, nowMs: now)
        } else {
            // A member of a generation this coordinator does not know (or an expired group).
            return failAll(.illegalGeneration)
        }
        if request.generationId >= 0 || !request.memberId.isEmpty || request.groupInstanceId != nil {
            if group.isFenced(memberId: request.memberId, instanceId: request.groupInstanceId) { return failAll(.fencedInstanceId) }
            guard let member = group.members[request.memberId] else { return failAll(.unknownMemberId) }
            guard request.generationId == group.generationId else { return failAll(.illegalGeneration) }
            if group.state == .completingRebalance { return failAll(.rebalanceInProgress) }
            member.lastHeartbeatMs = now
        } else if group.state != .empty {
            // Only members may commit for a group with members.
            return failAll(.unknownMemberId)
        }
        var errors: [TopicPartitionKey: KafkaErrorCode] = [:]
        var accepted: [(TopicPartitionKey, CommittedOffset)] = []
        for entry in request.entries {
            let metadata = entry.metadata ?? ""
            if metadata.utf8.count > config.offsetMetadataMaxBytes {
                errors[entry.partition] = .offsetMetadataTooLarge
                continue
            }
            let timestamp = entry.commitTimestampMs >= 0 ? entry.commitTimestampMs : now
            let expire = request.retentionTimeMs >= 0 ? timestamp + request.retentionTimeMs : nil
            accepted.append((entry.partition, CommittedOffset(
                offset: entry.offset, leaderEpoch: entry.leaderEpoch, metadata: metadata, commitTimestampMs: timestamp,
                expireTimestampMs: expire)))
        }
        guard !accepted.isEmpty else { return completion(errors) }
        group.pendingOffsetWrites += 1
        persist(accepted.map { .offset(group: group.groupId, $0.0, $0.1) }) { [self] result in
            group.pendingOffsetWrites -= 1
            switch result {
            case .success:
                for (partition, committed) in accepted { group.offsets[partition] = committed }
                for (partition, _) in accepted { errors[partition] = KafkaErrorCode.none }
            case .failure(let error):
                logger.error("could not store offset commit", metadata: ["group": "\(group.groupId)", "error": "\(error)"])
                for (partition, _) in accepted { errors[partition] = .coordinatorNotAvailable }
                forgetIfUnused(group)
            }
            completion(errors)
        }
    }

    /// OffsetFetch for one group: every committed offset (`partitions` nil) or the named ones
    /// (-1 where nothing is committed).
    public func fetchOffsets(groupId: String, partitions: [TopicPartitionKey]?) -> [(TopicPartitionKey, CommittedOffset?)] {
        let offsets = groups[groupId]?.offsets ?? [:]
        guard let partitions else { return offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
        return partitions.map { ($0, offsets[$0]) }
    }

    /// OffsetDelete: removes committed offsets of partitions the group no longer subscribes to.
    public func deleteOffsets(groupId: String, partitions: [TopicPartitionKey],
                              completion: @escaping (KafkaErrorCode, [TopicPartitionKey: KafkaErrorCode]) -> Void) {
        guard !groupId.isEmpty else { return completion(.invalidGroupId, [:]) }
        guard let group = groups[groupId], group.state != .dead else { return completion(.groupIdNotFound, [:]) }
        var errors: [TopicPartitionKey: KafkaErrorCode] = [:]
        var deletable: [TopicPartitionKey] = []
        let subscribed: Set<String>
        switch group.state {
        case .empty:
            subscribed = []
        case .preparingRebalance where group.protocolType == "consumer",
             .completingRebalance where group.protocolType == "consumer",
             .stable where group.protocolType == "consumer":
            subscribed = group.subscribedTopics ?? []
        default:
            return completion(.nonEmptyGroup, [:])
        }
        for partition in partitions {
            if subscribed.contains(partition.topic) {
                errors[partition] = .groupSubscribedToTopic
            } else {
                errors[partition] = KafkaErrorCode.none
                if group.offsets[partition] != nil { deletable.append(partition) }
            }
        }
        for partition in deletable { group.offsets.removeValue(forKey: partition) }
        persist(deletable.map { .offset(group: groupId, $0, nil) }) { [self] result in
            if case .failure(let error) = result {
                logger.error("could not store offset deletion", metadata: ["group": "\(groupId)", "error": "\(error)"])
                return completion(.coordinatorNotAvailable, [:])
            }
            completion(.none, errors)
        }
    }

    /// Forgets committed offsets of a deleted topic (as Kafka does when a partition goes away).
    public func removeOffsets(forTopic topic: String) {
        for group in groups.values {
            let gone = group.offsets.keys.filter { $0.topic == topic }
            guard !gone.isEmpty else { continue }
            for partition in gone { group.offsets.removeValue(forKey: partition) }
            persist(gone.map { .offset(group: group.groupId, $0, nil) }) { _ in }
        }
    }

    /// Removes expired offsets (offsets.retention.minutes, KIP-211) and then groups left with
    /// neither members nor offsets.
    public func expireOffsets() {
        let now = clock()
        let retention = config.offsetsRetentionMs
        for group in Array(groups.values) where group.pendingOffsetWrites == 0 {
            let subscribed: Set<String>
            let base: (CommittedOffset) -> Int64
            switch (group.protocolType, group.state) {
            case (nil, _):
                subscribed = []
                base = { $0.commitTimestampMs }
            case (_, .empty):
                subscribed = []
                let emptiedAt = group.stateTimestampMs
                base = { _ in emptiedAt }
            case ("consumer", .stable) where group.subscribedTopics != nil:
                subscribed = group.subscribedTopics ?? []
                base = { $0.commitTimestampMs }
            default:
                continue
            }
            let expired = group.offsets.filter { partition, committed in
                guard !subscribed.contains(partition.topic) else { return false }
                if let expire = committed.expireTimestampMs { return now >= expire }
                return now - base(committed) >= retention
            }.map(\.key)
            var records: [GroupRecord] = expired.map { .offset(group: group.groupId, $0, nil) }
            for partition in expired { group.offsets.removeValue(forKey: partition) }
            if group.offsets.isEmpty && group.isEmptyOfMembers && group.state == .empty && group.pendingMembers.isEmpty {
                group.transition(to: .dead, nowMs: now)
                groups.removeValue(forKey: group.groupId)
                if group.protocolType != nil { records.append(.group(group.groupId, nil)) }
            }
            guard !records.isEmpty else { continue }
            logger.info("expired offsets", metadata: ["group": "\(group.groupId)", "partitions": "\(expired.count)"])
            persist(records) { _ in }
        }
    }

    // MARK: Admin

    public func describeGroup(_ groupId: String) -> GroupDescription {
        guard let group = groups[groupId] else {
            return GroupDescription(groupId: groupId, error: .none, state: .dead, protocolType: "", protocolName: "", members: [])
        }
        let stable = group.state == .stable
        return GroupDescription(
            groupId: groupId, error: .none, state: group.state, protocolType: group.protocolType ?? "",
            protocolName: stable ? group.protocolName ?? "" : "",
            members: group.orderedMembers.map {
                GroupDescription.Member(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                                        clientHost: $0.clientHost,
                                        metadata: stable ? $0.metadata(for: group.protocolName) : ByteBuffer(),
                                        assignment: stable ? $0.assignment : ByteBuffer())
            })
    }

    /// Every group, optionally only those in `states` (Kafka's state names, any case).
    public func listGroups(states: [String] = []) -> [GroupListing] {
        let wanted = Set(states.map { $0.lowercased() })
        return groups.values
            .filter { wanted.isEmpty || wanted.contains($0.state.rawValue.lowercased()) }
            .sorted { $0.groupId < $1.groupId }
            .map { GroupListing(groupId: $0.groupId, protocolType: $0.protocolType ?? "", state: $0.state) }
    }

    /// DeleteGroups: only groups without members; their offsets go with them.
    public func deleteGroups(_ groupIds: [String], completion: @escaping ([(String, KafkaErrorCode)]) -> Void) {
        var results: [(String, KafkaErrorCode)] = []
        var records: [GroupRecord] = []
        var deleted: [String] = []
        for groupId in groupIds {
            guard !groupId.isEmpty else { results.append((groupId, .invalidGroupId)); continue }
            guard let group = groups[groupId], group.state != .dead else { results.append((groupId, .groupIdNotFound)); continue }
            guard group.state == .empty, group.pendingOffsetWrites == 0 else { results.append((groupId, .nonEmptyGroup)); continue }
            records += group.offsets.keys.sorted().map { .offset(group: groupId, $0, nil) }
            if group.protocolType != nil { records.append(.group(groupId, nil)) }
            group.transition(to: .dead, nowMs: clock())
            groups.removeValue(forKey: groupId)
            deleted.append(groupId)
            results.append((groupId, .none))
        }
        persist(records) { [logger] result in
            if case .failure(let error) = result {
                logger.error("could not store group deletion", metadata: ["groups": "\(deleted)", "error": "\(error)"])
                completion(results.map { ($0.0, deleted.contains($0.0) ? .coordinatorNotAvailable : $0.1) })
                return
            }
            completion(results)
        }
    }

    /// A group created for a request that then failed, with nothing in it, is not kept.
    private func forgetIfUnused(_ group: ClassicGroup) {
        if group.isEmptyOfMembers && group.offsets.isEmpty && group.pendingMembers.isEmpty && group.pendingOffsetWrites == 0
            && group.protocolType == nil && group.state == .empty {
            groups.removeValue(forKey: group.groupId)
        }
    }

    // MARK: Persistence

    private func persist(_ records: [GroupRecord], completion: @escaping (Result<Void, any Error>) -> Void) {
        guard !records.isEmpty else { return completion(.success(())) }
        if compaction != .idle {
            queuedWrites.append((records, completion))
            return
        }
        write(records, completion: completion)
    }

    private func write(_ records: [GroupRecord], completion: @escaping (Result<Void, any Error>) -> Void) {
        writesInFlight += 1
        store.append(records) { [self] result in
            writesInFlight -= 1
            completion(result)
            if compaction == .idle && store.recordsSinceRewrite >= compactionThreshold {
                let live = liveRecordCount()
                compactionThreshold = max(config.compactionMinRecords, 2 * live)
                if store.recordsSinceRewrite >= compactionThreshold { compaction = .due }
            }
            startCompactionIfDue()
        }
    }

    private func startCompactionIfDue() {
        guard compaction == .due, writesInFlight == 0 else { return }
        compaction = .running
        store.rewrite(liveRecords()) { [self] result in
            if case .failure(let error) = result {
                logger.error("group log compaction failed; will retry later", metadata: ["error": "\(error)"])
            }
            compaction = .idle
            compactionThreshold = max(config.compactionMinRecords, 2 * liveRecordCount())
            let queued = queuedWrites
            queuedWrites.removeAll()
            for (records, completion) in queued { write(records, completion: completion) }
        }
    }

    private func liveRecordCount() -> Int {
        groups.values.reduce(0) { $0 + $1.offsets.count + ($1.protocolType == nil ? 0 : 1) }
    }

    /// The latest value of every key: what a compacted group log holds.
    private func liveRecords() -> [GroupRecord] {
        var records: [GroupRecord] = []
        for group in groups.values.sorted(by: { $0.groupId < $1.groupId }) {
            if group.protocolType != nil { records.append(.group(group.groupId, group.snapshot())) }
            for (partition, committed) in group.offsets.sorted(by: { $0.key < $1.key }) {
                records.append(.offset(group: group.groupId, partition, committed))
            }
        }
        return records
    }
}

/// A random version-4 UUID in its usual 8-4-4-4-12 form (Kafka's member ids end in one).
public func randomUUIDString() -> String {
    let id = KafkaUUID.random()
    let hex = String(id.high, radix: 16).leftPadded(to: 16) + String(id.low, radix: 16).leftPadded(to: 16)
    let chars = Array(hex)
    return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-"
        + String(chars[16..<20]) + "-" + String(chars[20..<32])
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
