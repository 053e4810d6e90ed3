import KafkaProtocol

/// One member of the metadata quorum: a pull-based Raft (KIP-595) in the shape of Kafka's
/// KafkaRaftClient, with no sockets, clock or disk of its own. The host feeds it messages and
/// the time (`handle`, `tick`), gives it a log and a store for its election state, and sends
/// what `drainOutbound()` returns; the broker does that over the network, the simulator with
/// seeded faults. Not thread-safe: one owner calls everything.
///
/// Safety rests on three writes happening before the answers that depend on them: the election
/// state is stored before a vote is granted or an epoch adopted, a follower flushes what it
/// fetched before it fetches further (its fetch offset is what the leader counts), and the
/// leader counts its own records only once flushed.
public final class RaftReplica {
    enum State {
        case unattached(Unattached)
        case candidate(Candidate)
        case leader(LeaderState)
        case follower(Follower)
    }

    struct InFlight {
        var requestId: UInt64
        var sentAt: Int64
    }

    struct Unattached {
        var votedId: Int32?
        /// A voter stands when this passes; an observer looks for the leader meanwhile.
        var electionDeadline: Int64
        var discovery: InFlight?
        var nextDiscoveryAt: Int64
    }

    struct Candidate {
        var granted: Set<Int32>
        var rejected: Set<Int32>
        var electionDeadline: Int64
    }

    struct SnapshotTransfer {
        var id: OffsetAndEpoch
        var bytes: [UInt8]
    }

    struct Follower {
        var leaderId: Int32
        /// When it passes without a successful fetch, a voter stands for election and an observer
        /// looks for the leader again.
        var fetchDeadline: Int64
        var inFlight: InFlight?
        var nextFetchAt: Int64
        var transfer: SnapshotTransfer?
    }

    public let config: RaftConfig
    let log: RaftLog
    let store: QuorumStateStore
    var random: SplitMix64
    var state: State
    private(set) var election: ElectionState
    var nextRequestId: UInt64
    var outbox: [RaftOutbound] = []
    /// Everything below this offset is committed, as far as this node knows. It only grows
    /// (within one run of the process); a node that restarts learns it again.
    public private(set) var highWatermark: Int64

    /// Retry spacing for fetches that failed or found no leader (Kafka's retry.backoff.ms).
    let retryBackoffMs: Int64 = 50

    public init(config: RaftConfig, log: RaftLog, store: QuorumStateStore, seed: UInt64, now: Int64) throws {
        self.config = config
        self.log = log
        self.store = store
        random = SplitMix64(seed: seed)
        nextRequestId = random.next()
        highWatermark = log.startOffset
        election = try store.read() ?? ElectionState(epoch: 0)
        state = .unattached(Unattached(votedId: nil, electionDeadline: now, nextDiscoveryAt: now))
        // As Kafka restarts: a former leader does not lead again in its epoch (it may have lost
        // unflushed records); a follower goes back to its leader; a vote stands.
        if let leader = election.leaderId, leader != config.nodeId {
            state = .follower(Follower(leaderId: leader, fetchDeadline: now + config.fetchTimeoutMs, nextFetchAt: now))
        } else {
            let voted = election.leaderId == config.nodeId ? config.nodeId : election.votedId
            state = .unattached(Unattached(votedId: voted, electionDeadline: now + randomElectionTimeout(),
                                           nextDiscoveryAt: now))
        }
        if config.voters == [config.nodeId], case .unattached = state {
            try becomeCandidate(now: now)
        }
    }

    // MARK: - What the host sees

    public var epoch: Int32 { election.epoch }
    public var nodeId: Int32 { config.nodeId }

    public var role: RaftRole {
        switch state {
        case .unattached: return .unattached
        case .candidate: return .candidate
        case .leader: return .leader
        case .follower: return .follower
        }
    }

    public var leaderId: Int32? {
        switch state {
        case .leader: return config.nodeId
        case .follower(let follower): return follower.leaderId
        case .unattached, .candidate: return nil
        }
    }

    public var isLeader: Bool { if case .leader = state { return true } else { return false } }

    /// The next offset an append would get.
    public var logEndOffset: Int64 { log.end.offset }
    /// The first offset the log still holds (a snapshot covers what is below).
    public var logStartOffset: Int64 { log.startOffset }

    /// Messages to send, oldest first.
    public func drainOutbound() -> [RaftOutbound] {
        defer { outbox.removeAll(keepingCapacity: true) }
        return outbox
    }

    /// When `tick` next has something to do.
    public var nextDeadline: Int64 {
        switch state {
        case .unattached(let unattached):
            if config.isVoter { return unattached.electionDeadline }
            return unattached.discovery.map { $0.sentAt + config.requestTimeoutMs } ?? unattached.nextDiscoveryAt
        case .candidate(let candidate):
            return candidate.electionDeadline
        case .follower(let follower):
            var deadline = follower.fetchDeadline
            if let inFlight = follower.inFlight {
                deadline = min(deadline, inFlight.sentAt + config.requestTimeoutMs)
            } else {
                deadline = min(deadline, follower.nextFetchAt)
            }
            return deadline
        case .leader(let leader):
            var deadline = leader.majority > 1 ? leader.checkQuorumDeadline : .max
            if let flush = leader.flushDeadline { deadline = min(deadline, flush) }
            if !leader.unacknowledgedVoters.isEmpty { deadline = min(deadline, leader.nextBeginQuorumAt) }
            for parked in leader.parked.values { deadline = min(deadline, parked.deadline) }
            return deadline
        }
    }

    // MARK: - The host's calls

    /// Appends records in this leader's epoch; they commit once a majority has flushed them.
    /// Returns the offset of the first.
    @discardableResult
    public func append(_ payloads: [[UInt8]], now: Int64) throws -> Int64 {
        guard case .leader(var leader) = state else {
            throw RaftError.notLeader(epoch: epoch, leaderId: leaderId)
        }
        let base = log.end.offset
        try log.append(payloads.map { RaftRecord(epoch: leader.epoch, payload: $0) })
        if leader.flushDeadline == nil { leader.flushDeadline = now + config.appendLingerMs }
        state = .leader(leader)
        completeParkedFetches(now: now)
        return base
    }

    /// The next committed records (or the snapshot to load first) for a state machine that has
    /// applied everything below `nextOffset`.
    public func readCommitted(from nextOffset: Int64, maxRecords: Int = 1024) -> CommittedRead? {
        if nextOffset < log.startOffset, let snapshot = log.latestSnapshot {
            return .snapshot(snapshot)
        }
        guard nextOffset < highWatermark else { return nil }
        let records = log.read(from: nextOffset, maxRecords: min(maxRecords, Int(highWatermark - nextOffset)))
        return records.isEmpty ? nil : .records(baseOffset: nextOffset, records)
    }

    /// Stores the state machine's snapshot of everything below `endOffset` (committed) and lets
    /// the log drop those records.
    public func createSnapshot(endOffset: Int64, data: [UInt8]) throws {
        guard endOffset <= highWatermark, endOffset > log.startOffset,
              let epoch = log.epoch(at: endOffset - 1) else {
            throw RaftError.invalidSnapshot(endOffset: endOffset, highWatermark: highWatermark, logStart: log.startOffset)
        }
        try log.storeSnapshot(RaftSnapshot(id: OffsetAndEpoch(offset: endOffset, epoch: epoch), data: data))
    }

    /// A leader stepping down for shutdown: tells the other voters, most caught up first, so
    /// the next election starts at once instead of after a fetch timeout.
    public func resign(now: Int64) throws {
        guard case .leader(let leader) = state else { return }
        let successors = leader.preferredSuccessors
        for voter in successors {
            send(to: voter, .endQuorumEpoch(.init(requestId: takeRequestId(), epoch: epoch, leaderId: config.nodeId,
                                                  preferredSuccessors: successors)))
        }
        state = .unattached(Unattached(votedId: config.nodeId, electionDeadline: now + randomElectionTimeout(),
                                       nextDiscoveryAt: now))
    }

    /// Runs what is due at `now`: elections, fetch retries, the leader's flush, re-sent
    /// BeginQuorumEpoch, parked fetches that waited long enough, and check quorum.
    public func tick(now: Int64) throws {
        switch state {
        case .unattached(var unattached):
            if config.isVoter {
                if now >= unattached.electionDeadline { try becomeCandidate(now: now) }
                return
            }
            if let discovery = unattached.discovery, now - discovery.sentAt < config.requestTimeoutMs { return }
            unattached.discovery = nil
            guard now >= unattached.nextDiscoveryAt, let voter = config.voters.sorted().randomElement(using: &random) else {
                state = .unattached(unattached)
                return
            }
            let requestId = takeRequestId()
            unattached.discovery = InFlight(requestId: requestId, sentAt: now)
            unattached.nextDiscoveryAt = now + retryBackoffMs
            state = .unattached(unattached)
            send(to: voter, .fetch(fetchRequest(requestId: requestId)))

        case .candidate(let candidate):
            if now >= candidate.electionDeadline { backOffAfterElection(now: now) }

        case .follower(var follower):
            if now >= follower.fetchDeadline {
                if config.isVoter {
                    try becomeCandidate(now: now)
                } else {
                    state = .unattached(Unattached(votedId: nil, electionDeadline: .max, nextDiscoveryAt: now))
                    try tick(now: now)
                }
                return
            }
            if let inFlight = follower.inFlight, now - inFlight.sentAt >= config.requestTimeoutMs {
                follower.inFlight = nil
            }
            state = .follower(follower)
            sendNextFetch(now: now)

        case .leader(var leader):
            if let flush = leader.flushDeadline, now >= flush {
                state = .leader(leader)
                try flushAsLeader(now: now)
                guard case .leader(let updated) = state else { return }
                leader = updated
            }
            if !leader.unacknowledgedVoters.isEmpty, now >= leader.nextBeginQuorumAt {
                for voter in leader.unacknowledgedVoters.sorted() {
                    send(to: voter, .beginQuorumEpoch(.init(requestId: takeRequestId(), epoch: leader.epoch,
                                                            leaderId: config.nodeId)))
                }
                leader.nextBeginQuorumAt = now + config.fetchTimeoutMs / 2
            }
            if now >= leader.checkQuorumDeadline, leader.majority > 1 {
                state = .leader(leader)
                try resign(now: now)
                return
            }
            state = .leader(leader)
            let expired = leader.parked.filter { $0.value.deadline <= now }.map(\.key).sorted()
            for replica in expired { answerParkedFetch(of: replica, now: now) }
        }
    }

    // MARK: - Transitions

    var checkQuorumTimeoutMs: Int64 { config.fetchTimeoutMs * 3 / 2 }

    func randomElectionTimeout() -> Int64 {
        config.electionTimeoutMs + Int64.random(in: 0..<max(1, config.electionTimeoutMs), using: &random)
    }

    func takeRequestId() -> UInt64 {
        nextRequestId &+= 1
        return nextRequestId
    }

    func send(to destination: Int32, _ message: RaftMessage) {
        outbox.append(RaftOutbound(destination: destination, message: message))
    }

    func persist(_ newState: ElectionState) throws {
        guard newState != election else { return }
        precondition(newState.epoch >= election.epoch, "the quorum epoch went back from \(election.epoch) to \(newState.epoch)")
        try store.write(newState)
        election = newState
    }

    /// Adopts what a message says of a newer epoch (or of the leader of this one, when this node
    /// did not know it). Returns whether the state changed.
    @discardableResult
    func observe(epoch messageEpoch: Int32, leaderId messageLeader: Int32?, now: Int64) throws -> Bool {
        if messageEpoch > epoch {
            if let leader = messageLeader, leader != config.nodeId {
                try becomeFollower(epoch: messageEpoch, leaderId: leader, now: now)
            } else {
                try becomeUnattached(epoch: messageEpoch, now: now)
            }
            return true
        }
        guard messageEpoch == epoch, let leader = messageLeader, leader != config.nodeId else { return false }
        switch state {
        case .unattached, .candidate:
            try becomeFollower(epoch: messageEpoch, leaderId: leader, now: now)
            return true
        case .follower(let follower):
            if follower.leaderId != leader {
                throw RaftError.invariantBroken("two leaders in epoch \(epoch): \(follower.leaderId) and \(leader)")
            }
            return false
        case .leader:
            throw RaftError.invariantBroken("node \(leader) claims epoch \(epoch), which this node leads")
        }
    }

    func becomeUnattached(epoch newEpoch: Int32, now: Int64) throws {
        try persist(ElectionState(epoch: newEpoch))
        // As Kafka's QuorumState does: a node that was already waiting to stand keeps its
        // deadline. A newer epoch alone (a candidate this node will not vote for) must not
        // reset it, or a voter with a stale log that keeps standing holds off every election.
        let deadline: Int64
        switch state {
        case .unattached(let unattached): deadline = unattached.electionDeadline
        case .candidate(let candidate): deadline = candidate.electionDeadline
        case .leader, .follower: deadline = now + randomElectionTimeout()
        }
        state = .unattached(Unattached(votedId: nil, electionDeadline: deadline, nextDiscoveryAt: now))
    }

    func becomeFollower(epoch newEpoch: Int32, leaderId: Int32, now: Int64) throws {
        try persist(ElectionState(epoch: newEpoch, leaderId: leaderId))
        state = .follower(Follower(leaderId: leaderId, fetchDeadline: now + config.fetchTimeoutMs, nextFetchAt: now))
        sendNextFetch(now: now)
    }

    func becomeCandidate(now: Int64) throws {
        precondition(config.isVoter, "an observer never stands for election")
        try persist(ElectionState(epoch: epoch + 1, votedId: config.nodeId))
        state = .candidate(Candidate(granted: [config.nodeId], rejected: [], electionDeadline: now + randomElectionTimeout()))
        if config.majority <= 1 {
            try becomeLeader(now: now, grantingVoters: [config.nodeId])
            return
        }
        for voter in config.voters.subtracting([config.nodeId]).sorted() {
            send(to: voter, .vote(.init(requestId: takeRequestId(), candidateEpoch: epoch, candidateId: config.nodeId,
                                        lastOffset: log.end)))
        }
    }

    /// A lost or timed-out election: wait a random backoff, then stand again in the next epoch.
    /// The vote for itself stands, so this node votes for nobody else in this epoch.
    func backOffAfterElection(now: Int64) {
        let backoff = Int64.random(in: 0...max(1, config.electionBackoffMaxMs), using: &random)
        state = .unattached(Unattached(votedId: config.nodeId, electionDeadline: now + backoff, nextDiscoveryAt: now))
    }

    func becomeLeader(now: Int64, grantingVoters: Set<Int32>) throws {
        try persist(ElectionState(epoch: epoch, leaderId: config.nodeId, votedId: config.nodeId))
        let start = log.end.offset
        var leader = LeaderState(epoch: epoch, localId: config.nodeId, voters: config.voters, epochStartOffset: start,
                                 now: now, checkQuorumTimeoutMs: checkQuorumTimeoutMs)
        // The LeaderChangeMessage: a record of the new epoch that commits everything before it.
        try log.append([RaftRecord(epoch: epoch, payload: LeaderChangeRecord.encode(leaderId: config.nodeId, voters: config.voters,
                                                                                   grantingVoters: grantingVoters),
                               isControl: true)])
        leader.flushDeadline = now
        state = .leader(leader)
        try flushAsLeader(now: now)
        try tick(now: now)
    }

    func flushAsLeader(now: Int64) throws {
        guard case .leader(var leader) = state else { return }
        try log.flush()
        leader.flushDeadline = nil
        let moved = leader.updateEndOffset(of: config.nodeId, to: log.flushedEndOffset, now: now, leaderEnd: log.end.offset)
        state = .leader(leader)
        if moved { advanceHighWatermark(to: leader.highWatermark, now: now) }
    }

    func advanceHighWatermark(to candidate: Int64?, now: Int64) {
        guard let candidate, candidate > highWatermark else { return }
        highWatermark = candidate
        if isLeader { completeParkedFetches(now: now) }
    }

    func fetchRequest(requestId: UInt64) -> RaftMessage.FetchRequest {
        let end = log.end
        return .init(requestId: requestId, replicaId: config.nodeId, epoch: epoch, fetchOffset: end.offset,
                     lastFetchedEpoch: end.epoch, maxWaitMs: config.fetchMaxWaitMs)
    }

    /// A follower's next Fetch (or FetchSnapshot chunk), unless one is in flight or backing off.
    func sendNextFetch(now: Int64) {
        guard case .follower(var follower) = state, follower.inFlight == nil, now >= follower.nextFetchAt else { return }
        let requestId = takeRequestId()
        follower.inFlight = InFlight(requestId: requestId, sentAt: now)
        if let transfer = follower.transfer {
            send(to: follower.leaderId, .fetchSnapshot(.init(requestId: requestId, replicaId: config.nodeId, epoch: epoch,
                                                             snapshotId: transfer.id, position: Int64(transfer.bytes.count),
                                                             maxBytes: config.snapshotChunkBytes)))
        } else {
            send(to: follower.leaderId, .fetch(fetchRequest(requestId: requestId)))
        }
        state = .follower(follower)
    }
}

/// What a state machine applies next.
public enum CommittedRead: Sendable, Equatable {
    case snapshot(RaftSnapshot)
    case records(baseOffset: Int64, [RaftRecord])
}

public enum RaftError: Error, Equatable, CustomStringConvertible {
    case notLeader(epoch: Int32, leaderId: Int32?)
    case invalidSnapshot(endOffset: Int64, highWatermark: Int64, logStart: Int64)
    /// Something Raft rules out happened: a bug, or a disk that lost synced data. The replica
    /// must stop rather than serve from a broken log.
    case invariantBroken(String)

    public var description: String {
        switch self {
        case .notLeader(let epoch, let leader):
            return "not the quorum leader (epoch \(epoch), leader \(leader.map(String.init) ?? "unknown"))"
        case .invalidSnapshot(let end, let hw, let start):
            return "cannot snapshot below \(end): high watermark \(hw), log start \(start)"
        case .invariantBroken(let what):
            return "quorum invariant broken: \(what)"
        }
    }
}
