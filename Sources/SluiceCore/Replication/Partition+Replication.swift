import KafkaProtocol
import SluiceStorage

/// A partition's leader side of replication (Kafka's Partition: updateFollowerFetchState,
/// maybeIncrementLeaderHW, maybeShrinkIsr/maybeExpandIsr, and DelayedProduce's wait). Every
/// method runs on the partition's owner, where its log lives.
extension Partition {
    /// The metadata changed this partition's state: lead (track the followers, check the ISR),
    /// or stop leading (acks=all produces still waiting get NOT_LEADER_OR_FOLLOWER).
    func roleChanged() {
        precondition(owner.isCurrent, "replication state used off its owner")
        guard let log else { return }
        let state = self.state
        log.highWatermarkFollowsReplicas = state.replicas.count > 1
        guard state.leader == localBroker, state.replicas.count > 1 else {
            replication.tracker = nil
            replication.trackerEpoch = -1
            replication.pendingIsr = nil
            replication.isrCheck?.cancel()
            replication.isrCheck = nil
            failWaiters(state.leader == localBroker ? .none : .notLeaderOrFollower)
            return
        }
        if replication.tracker == nil || replication.trackerEpoch != state.leaderEpoch {
            replication.tracker = ReplicaTracker(leader: localBroker, replicas: state.replicas, isr: state.isr,
                                                 nowMs: environment.clock())
            replication.trackerEpoch = state.leaderEpoch
            replication.pendingIsr = nil
        } else {
            replication.tracker?.track(replicas: state.replicas)
        }
        if let pending = replication.pendingIsr, pending.partitionEpoch < state.partitionEpoch { replication.pendingIsr = nil }
        if replication.isrCheck == nil {
            // Kafka checks every replica.lag.time.max.ms / 2.
            let interval = max(1, min(environment.maxLagMs / 2, 60_000))
            replication.isrCheck = owner.scheduleRepeated(everyMs: interval) { [weak self] in self?.shrinkIsrIfLagging() }
        }
        advanceHighWatermark()
        completeWaiters()
    }

    /// The ISR the high watermark counts: the committed one plus replicas an expansion in
    /// flight adds (Kafka's maximal ISR, KIP-497).
    var maximalIsr: [Int32] {
        let isr = state.isr
        guard let pending = replication.pendingIsr else { return isr }
        return isr + pending.newIsr.filter { !isr.contains($0) }
    }

    /// A follower fetched from `offset` (its durable log end), with no divergence: record it,
    /// move the high watermark, and let it into the ISR when it has caught up. False when it
    /// is not a replica of a partition this broker leads (NOT_LEADER_OR_FOLLOWER).
    public func followerFetched(_ replica: Int32, brokerEpoch: Int64 = -1, offset: Int64) -> Bool {
        precondition(owner.isCurrent, "replication state used off its owner")
        guard let log, state.leader == localBroker else { return false }
        guard replication.tracker != nil else {
            // A partition of one replica (being reassigned, later) has no followers to track.
            return false
        }
        guard replication.tracker?.followerFetched(replica, brokerEpoch: brokerEpoch, offset: offset, leaderEnd: log.stableEnd,
                                                   nowMs: environment.clock()) == true else { return false }
        advanceHighWatermark()
        expandIsrIfCaughtUp()
        return true
    }

    /// The leader's own log moved (an append completed).
    public func stableEndMoved() {
        precondition(owner.isCurrent, "replication state used off its owner")
        advanceHighWatermark()
    }

    /// The high watermark moved: answer the acks=all produces it covers.
    public func highWatermarkMoved() {
        precondition(owner.isCurrent, "replication state used off its owner")
        completeWaiters()
    }

    func advanceHighWatermark() {
        guard let log, let tracker = replication.tracker else { return }
        if let target = tracker.highWatermark(isr: maximalIsr, leaderEnd: log.stableEnd, minInsync: minInsyncReplicas) {
            log.advanceHighWatermark(to: target)
        }
    }

    /// Waits until the high watermark reaches `endOffset` (an acks=all produce whose records end
    /// there), then answers NONE, or NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR has fallen
    /// below `minInsync` meanwhile; REQUEST_TIMED_OUT after `timeoutMs`;
    /// NOT_LEADER_OR_FOLLOWER when this broker stops leading first.
    public func awaitReplication(through endOffset: Int64, minInsync: Int, timeoutMs: Int64,
                                 completion: @escaping (KafkaErrorCode) -> Void) {
        precondition(owner.isCurrent, "replication state used off its owner")
        guard let log, state.leader == localBroker else {
            completion(.notLeaderOrFollower)
            return
        }
        if log.highWatermark >= endOffset {
            completion(maximalIsr.count >= minInsync ? .none : .notEnoughReplicasAfterAppend)
            return
        }
        let id = replication.nextWaiterId
        replication.nextWaiterId += 1
        let timeout = owner.schedule(afterMs: max(0, timeoutMs)) { [weak self] in
            guard let self, let index = self.replication.waiters.firstIndex(where: { $0.id == id }) else { return }
            let waiter = self.replication.waiters.remove(at: index)
            waiter.completion(.requestTimedOut)
        }
        replication.waiters.append(ReplicationWaiter(id: id, endOffset: endOffset, minInsync: minInsync, timeout: timeout,
                                                     completion: completion))
    }

    func completeWaiters() {
        guard let log, !replication.waiters.isEmpty else { return }
        let highWatermark = log.highWatermark
        let ready = replication.waiters.filter { $0.endOffset <= highWatermark }
        guard !ready.isEmpty else { return }
        replication.waiters.removeAll { $0.endOffset <= highWatermark }
        let inSync = maximalIsr.count
        for waiter in ready {
            waiter.timeout.cancel()
            waiter.completion(inSync >= waiter.minInsync ? .none : .notEnoughReplicasAfterAppend)
        }
    }

    /// `code` .none: the partition has no other replicas now, so the local write is the answer.
    func failWaiters(_ code: KafkaErrorCode) {
        let waiters = replication.waiters
        replication.waiters = []
        for waiter in waiters {
            waiter.timeout.cancel()
            waiter.completion(code)
        }
    }

    // MARK: ISR changes

    func shrinkIsrIfLagging() {
        precondition(owner.isCurrent, "replication state used off its owner")
        guard let tracker = replication.tracker, replication.pendingIsr == nil, state.leader == localBroker else { return }
        let isr = state.isr
        let lagging = tracker.outOfSync(isr: isr, nowMs: environment.clock(), maxLagMs: environment.maxLagMs)
        guard !lagging.isEmpty else { return }
        propose(isr.filter { !lagging.contains($0) })
    }

    func expandIsrIfCaughtUp() {
        guard let log, let tracker = replication.tracker, replication.pendingIsr == nil else { return }
        if let refused = replication.proposalRefusedAtMs, environment.clock() - refused < Self.refusedProposalBackoffMs { return }
        let isr = state.isr
        let epochStart = log.epochs.entries.last(where: { $0.epoch <= state.leaderEpoch })?.startOffset ?? log.logStartOffset
        let joining = tracker.caughtUp(isr: isr, highWatermark: log.highWatermark, epochStartOffset: epochStart)
        guard !joining.isEmpty else { return }
        propose(isr + joining)
    }

    static let refusedProposalBackoffMs: Int64 = 500

    private func propose(_ newIsr: [Int32]) {
        let state = self.state
        var proposal = IsrProposal(topicId: topicId, partition: index, leaderEpoch: state.leaderEpoch,
                                   partitionEpoch: state.partitionEpoch, newIsr: newIsr, currentIsr: state.isr)
        for replica in newIsr {
            if let epoch = replication.tracker?.followers[replica]?.brokerEpoch, epoch >= 0 { proposal.brokerEpochs[replica] = epoch }
        }
        replication.pendingIsr = proposal
        environment.proposeIsr(self, proposal)
    }

    /// The controller's answer to an ISR change: the partition's state after it, or an error
    /// (the next check or fetch proposes again; a newer state arrives with the metadata).
    public func isrChangeAnswered(_ proposal: IsrProposal, result: Result<PartitionState, KafkaErrorCode>) {
        precondition(owner.isCurrent, "replication state used off its owner")
        guard replication.pendingIsr == proposal else { return }
        replication.pendingIsr = nil
        if case .success(let newState) = result {
            update(newState)
        } else {
            // Refused (a replica not eligible yet, the controller moving): not again at once on
            // every fetch; the next ISR check, or a fetch after it, proposes again.
            replication.proposalRefusedAtMs = environment.clock()
        }
        advanceHighWatermark()
    }

    /// What /metrics reports of this partition's replication, read on its owner: whether this
    /// broker leads it with fewer replicas in sync than assigned, or fewer than
    /// min.insync.replicas, and how many records its furthest-behind follower lacks.
    public var replicationFigures: (underReplicated: Bool, underMinIsr: Bool, maxFollowerLag: Int64) {
        precondition(owner.isCurrent, "replication state used off its owner")
        let state = self.state
        guard state.leader == localBroker, let log else { return (false, false, 0) }
        let lag = replication.tracker?.followers.values.map { log.stableEnd - max(0, $0.logEnd) }.max() ?? 0
        return (state.isr.count < state.replicas.count, state.isr.count < minInsyncReplicas, max(0, lag))
    }
}
