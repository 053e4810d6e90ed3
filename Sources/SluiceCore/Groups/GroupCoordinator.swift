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
    let config: GroupCoordinatorConfig
    let store: any GroupStore
    let clock: @Sendable () -> Int64
    let logger: Logger
    let newMemberId: (String) -> String
    var groups: [String: ClassicGroup] = [:]
    var timers: [any LogScheduledTask] = []
    var deadlines = GroupDeadlines()
    /// The one-shot timer armed for `deadlines.earliest`.
    var armedDeadline: (atMs: Int64, task: any LogScheduledTask)?
    var stopped = false
    /// Offsets committed in transactions (TxnOffsetCommit) whose outcome is not known yet:
    /// producer id → group → partition → offset. A COMMIT marker makes them the groups'
    /// committed offsets; an ABORT drops them.
    var pendingTransactionalOffsets: [Int64: [String: [TopicPartitionKey: CommittedOffset?]]] = [:]

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
        try load()
    }

    // MARK: Loading

    func load() throws {
        loadGroups(try store.loadRecords())
    }

    /// Adds the groups and committed offsets `records` hold (the whole store at start, or a
    /// partition of the offsets topic this broker has just become the leader of), later
    /// records replacing earlier ones.
    public func loadGroups(_ records: [GroupRecord]) {
        loadGroups(records.map { GroupLogEntry.record($0) })
    }

    /// Adds what the group log's `entries` hold: records, a transaction's offset commits
    /// (pending until its producer's marker) and markers (which make them count, or drop them).
    /// `entries` come from one partition of the log, so a marker among them decides only the
    /// offsets written there; what no marker decided stays pending.
    public func loadGroups(_ entries: [GroupLogEntry]) {
        let now = clock()
        var touched = Set<String>()
        var records = 0
        var pendingHere: [Int64: [String: [TopicPartitionKey: CommittedOffset?]]] = [:]
        for entry in entries {
            switch entry {
            case .record(let record):
                records += 1
                apply(record, nowMs: now, touched: &touched)
            case .transactional(let producerId, .offset(let groupId, let partition, let value)):
                records += 1
                pendingHere[producerId, default: [:]][groupId, default: [:]][partition] = value
            case .transactional:
                break  // only offsets are committed in transactions
            case .marker(let producerId, let commit):
                for (groupId, offsets) in pendingHere.removeValue(forKey: producerId) ?? [:] where commit {
                    for (partition, value) in offsets { apply(.offset(group: groupId, partition, value), nowMs: now, touched: &touched) }
                }
            }
        }
        for (producerId, byGroup) in pendingHere {
            for (groupId, offsets) in byGroup {
                pendingTransactionalOffsets[producerId, default: [:]][groupId, default: [:]].merge(offsets) { _, loaded in loaded }
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
        logger.info("group coordinator loaded", metadata: [
            "groups": "\(touched.filter { groups[$0] != nil }.count)",
            "offsets": "\(touched.compactMap { groups[$0] }.reduce(0) { $0 + $1.offsets.count })", "records": "\(records)"])
    }

    /// One record read back: the latest value of its key replaces what came before.
    private func apply(_ record: GroupRecord, nowMs now: Int64, touched: inout Set<String>) {
        switch record {
        case .offset(let groupId, let partition, let value):
            touched.insert(groupId)
            let group = groups[groupId] ?? makeGroup(groupId, nowMs: now)
            group.offsets[partition] = value
        case .group(let groupId, let snapshot):
            touched.insert(groupId)
            guard let snapshot else {
                groups.removeValue(forKey: groupId)
                return
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
        // Undecided transactional offsets of the moved groups go too: the partition's next
        // coordinator reads them back with the markers that decide them.
        for (producerId, byGroup) in pendingTransactionalOffsets {
            let kept = byGroup.filter { !moved($0.key) }
            pendingTransactionalOffsets[producerId] = kept.isEmpty ? nil : kept
        }
        if unloaded > 0 { logger.info("groups moved to another coordinator", metadata: ["groups": "\(unloaded)"]) }
    }

    func makeGroup(_ groupId: String, nowMs: Int64, replacing old: ClassicGroup? = nil) -> ClassicGroup {
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
    func scheduleExpiry(_ group: ClassicGroup) {
        guard groups[group.groupId] === group,
              let next = group.nextDeadlineMs(newMemberJoinTimeoutMs: config.newMemberJoinTimeoutMs) else { return }
        if let scheduled = group.scheduledDeadlineMs, scheduled <= next { return }
        group.scheduledDeadlineMs = next
        deadlines.insert(next, groupId: group.groupId)
        armDeadlineTimer()
    }

    func armDeadlineTimer() {
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
    func expire(_ group: ClassicGroup, nowMs now: Int64) {
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

    // MARK: Persistence

    /// Writes `records` to the group log; the log cleaner, not the coordinator, keeps it to the
    /// latest record of each key.
    func persist(_ records: [GroupRecord], completion: @escaping (Result<Void, any Error>) -> Void) {
        guard !records.isEmpty else { return completion(.success(())) }
        store.append(records, completion: completion)
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
