import KafkaProtocol

extension RaftReplica {
    /// Handles one message from `source`. Whatever it leads to is queued for `drainOutbound()`.
    public func handle(_ message: RaftMessage, from source: Int32, now: Int64) throws {
        switch message {
        case .vote(let request): try handleVote(request, from: source, now: now)
        case .voteResponse(let response): try handleVoteResponse(response, from: source, now: now)
        case .beginQuorumEpoch(let request): try handleBeginQuorumEpoch(request, from: source, now: now)
        case .beginQuorumEpochResponse(let response): try handleBeginQuorumEpochResponse(response, from: source, now: now)
        case .endQuorumEpoch(let request): try handleEndQuorumEpoch(request, from: source, now: now)
        case .endQuorumEpochResponse(let response): try observe(epoch: response.epoch, leaderId: response.leaderId, now: now)
        case .fetch(let request): try handleFetch(request, from: source, now: now)
        case .fetchResponse(let response): try handleFetchResponse(response, from: source, now: now)
        case .fetchSnapshot(let request): handleFetchSnapshot(request, from: source, now: now)
        case .fetchSnapshotResponse(let response): try handleFetchSnapshotResponse(response, from: source, now: now)
        }
    }

    /// Kafka's validateVoterOnlyRequest: the sender must be a voter here, and its epoch current.
    private func voterOnlyError(sender: Int32, epoch requestEpoch: Int32) -> KafkaErrorCode? {
        if !config.voters.contains(sender) || !config.isVoter { return .inconsistentVoterSet }
        if requestEpoch < epoch { return .fencedLeaderEpoch }
        return nil
    }

    // MARK: Vote

    private func handleVote(_ request: RaftMessage.VoteRequest, from source: Int32, now: Int64) throws {
        func answer(_ error: KafkaErrorCode, granted: Bool) {
            send(to: source, .voteResponse(.init(requestId: request.requestId, error: error, epoch: epoch,
                                                 leaderId: leaderId, voteGranted: granted)))
        }
        if let error = voterOnlyError(sender: request.candidateId, epoch: request.candidateEpoch) {
            answer(error, granted: false)
            return
        }
        if request.candidateEpoch > epoch {
            try becomeUnattached(epoch: request.candidateEpoch, now: now)
        }
        guard case .unattached(var unattached) = state else {
            // A candidate voted for itself; a leader or follower already has this epoch's leader.
            answer(.none, granted: false)
            return
        }
        let alreadyVotedForAnother = unattached.votedId.map { $0 != request.candidateId } ?? false
        let logIsUpToDate = request.lastOffset >= log.end
        guard !alreadyVotedForAnother, logIsUpToDate else {
            answer(.none, granted: false)
            return
        }
        if unattached.votedId == nil {
            try persist(ElectionState(epoch: epoch, votedId: request.candidateId))
            unattached.votedId = request.candidateId
            unattached.electionDeadline = now + randomElectionTimeout()
            state = .unattached(unattached)
        }
        answer(.none, granted: true)
    }

    private func handleVoteResponse(_ response: RaftMessage.VoteResponse, from source: Int32, now: Int64) throws {
        if try observe(epoch: response.epoch, leaderId: response.leaderId, now: now) { return }
        guard response.epoch == epoch, response.error == .none, case .candidate(var candidate) = state else { return }
        if response.voteGranted {
            candidate.granted.insert(source)
        } else {
            candidate.rejected.insert(source)
        }
        state = .candidate(candidate)
        if candidate.granted.count >= config.majority {
            try becomeLeader(now: now, grantingVoters: candidate.granted)
        } else if candidate.rejected.count > config.voters.count - config.majority {
            backOffAfterElection(now: now)
        }
    }

    // MARK: BeginQuorumEpoch and EndQuorumEpoch

    private func handleBeginQuorumEpoch(_ request: RaftMessage.BeginQuorumEpochRequest, from source: Int32, now: Int64) throws {
        var error = voterOnlyError(sender: source, epoch: request.epoch)
        if error == nil, request.leaderId != source { error = .inconsistentVoterSet }
        if error == nil {
            try observe(epoch: request.epoch, leaderId: request.leaderId, now: now)
            if case .follower(var follower) = state, follower.leaderId == request.leaderId {
                follower.fetchDeadline = now + config.fetchTimeoutMs
                state = .follower(follower)
            }
        }
        send(to: source, .beginQuorumEpochResponse(.init(requestId: request.requestId, error: error ?? .none,
                                                         epoch: epoch, leaderId: leaderId)))
    }

    private func handleBeginQuorumEpochResponse(_ response: RaftMessage.BeginQuorumEpochResponse, from source: Int32, now: Int64) throws {
        if try observe(epoch: response.epoch, leaderId: response.leaderId, now: now) { return }
        guard response.error == .none, response.epoch == epoch, case .leader(var leader) = state else { return }
        leader.unacknowledgedVoters.remove(source)
        state = .leader(leader)
    }

    private func handleEndQuorumEpoch(_ request: RaftMessage.EndQuorumEpochRequest, from source: Int32, now: Int64) throws {
        var error = voterOnlyError(sender: source, epoch: request.epoch)
        if error == nil, request.leaderId != source { error = .inconsistentVoterSet }
        if error == nil {
            try observe(epoch: request.epoch, leaderId: request.leaderId, now: now)
            // The leader of this epoch is leaving: stand soon, the most caught up first, in the
            // next epoch (a vote already given in this one must stand).
            if case .follower(var follower) = state, follower.leaderId == request.leaderId, request.epoch == epoch {
                let position = Int64(request.preferredSuccessors.firstIndex(of: config.nodeId) ?? request.preferredSuccessors.count)
                let spacing = max(1, config.electionBackoffMaxMs / Int64(max(1, config.voters.count)))
                let backoff = position * spacing + Int64.random(in: 0..<spacing, using: &random)
                follower.fetchDeadline = min(follower.fetchDeadline, now + backoff)
                state = .follower(follower)
            }
        }
        send(to: source, .endQuorumEpochResponse(.init(requestId: request.requestId, error: error ?? .none,
                                                       epoch: epoch, leaderId: leaderId)))
    }

    // MARK: Fetch, as the leader answers it

    enum FetchValidation: Equatable {
        case valid
        case diverging(OffsetAndEpoch)
        case snapshot(OffsetAndEpoch)
    }

    /// Kafka's ReplicatedLog.validateOffsetAndEpoch: does the fetcher's log, ending at
    /// `fetchOffset` with a record of `lastFetchedEpoch`, agree with this one?
    func validate(fetchOffset: Int64, lastFetchedEpoch: Int32) -> FetchValidation {
        let start = log.startOffset
        if let snapshot = log.latestSnapshot, start > 0 {
            if fetchOffset < start || lastFetchedEpoch < snapshot.id.epoch { return .snapshot(snapshot.id) }
            if fetchOffset == start {
                return lastFetchedEpoch == snapshot.id.epoch ? .valid : .snapshot(snapshot.id)
            }
        }
        if fetchOffset == 0 { return .valid }
        let endForEpoch = log.endOffset(forEpoch: lastFetchedEpoch)
        if endForEpoch.epoch == lastFetchedEpoch, endForEpoch.offset >= fetchOffset { return .valid }
        if endForEpoch.offset < start, let snapshot = log.latestSnapshot { return .snapshot(snapshot.id) }
        return .diverging(endForEpoch)
    }

    private func handleFetch(_ request: RaftMessage.FetchRequest, from source: Int32, now: Int64) throws {
        func answer(_ error: KafkaErrorCode) {
            send(to: source, .fetchResponse(.init(requestId: request.requestId, error: error, epoch: epoch, leaderId: leaderId,
                                                  highWatermark: -1, baseOffset: request.fetchOffset, records: [])))
        }
        // Kafka's validateLeaderOnlyRequest.
        if request.epoch < epoch { return answer(.fencedLeaderEpoch) }
        if request.epoch > epoch { return answer(.unknownLeaderEpoch) }
        guard case .leader(var leader) = state else { return answer(.notLeaderOrFollower) }
        guard request.fetchOffset >= 0, request.lastFetchedEpoch >= 0, request.replicaId == source else {
            return answer(.invalidRequest)
        }
        let validation = validate(fetchOffset: request.fetchOffset, lastFetchedEpoch: request.lastFetchedEpoch)
        switch validation {
        case .diverging, .snapshot:
            // The fetcher must truncate or load a snapshot first: nothing to park, no records to send.
            leader.parked[source] = nil
            state = .leader(leader)
            var response = RaftMessage.FetchResponse(requestId: request.requestId, error: .none, epoch: epoch, leaderId: config.nodeId,
                                                     highWatermark: leader.highWatermark ?? -1, baseOffset: request.fetchOffset, records: [])
            if case .diverging(let end) = validation { response.divergingEpoch = end }
            if case .snapshot(let id) = validation { response.snapshotId = id }
            send(to: source, .fetchResponse(response))
        case .valid:
            let moved = leader.updateEndOffset(of: source, to: request.fetchOffset, now: now, leaderEnd: log.end.offset)
            leader.parked[source] = ParkedFetchRequest(request: request, deadline: now + min(request.maxWaitMs, config.fetchMaxWaitMs))
            state = .leader(leader)
            if moved { advanceHighWatermark(to: leader.highWatermark, now: now) }
            // Answer now when there are records to send or nothing to wait for; otherwise the
            // fetch waits for an append, a new high watermark or its deadline.
            if case .leader(let current) = state, current.parked[source] != nil,
               request.maxWaitMs <= 0 || request.fetchOffset < log.end.offset {
                answerParkedFetch(of: source, now: now)
            }
        }
    }

    typealias ParkedFetchRequest = LeaderState.ParkedFetch

    /// Answers a parked fetch with what the log holds from its offset now.
    func answerParkedFetch(of replica: Int32, now: Int64) {
        guard case .leader(var leader) = state, let parked = leader.parked.removeValue(forKey: replica) else { return }
        state = .leader(leader)
        let request = parked.request
        let records = log.read(from: request.fetchOffset, maxRecords: config.maxFetchRecords)
        send(to: replica, .fetchResponse(.init(requestId: request.requestId, error: .none, epoch: epoch, leaderId: config.nodeId,
                                               highWatermark: leader.highWatermark ?? -1, baseOffset: request.fetchOffset,
                                               records: records)))
    }

    func completeParkedFetches(now: Int64) {
        guard case .leader(let leader) = state else { return }
        for replica in leader.parked.keys.sorted() { answerParkedFetch(of: replica, now: now) }
    }

    private func handleFetchSnapshot(_ request: RaftMessage.FetchSnapshotRequest, from source: Int32, now: Int64) {
        func answer(_ error: KafkaErrorCode, size: Int64 = -1, bytes: [UInt8] = []) {
            send(to: source, .fetchSnapshotResponse(.init(requestId: request.requestId, error: error, epoch: epoch,
                                                          leaderId: leaderId, snapshotId: request.snapshotId, size: size,
                                                          position: request.position, bytes: bytes)))
        }
        if request.epoch < epoch { return answer(.fencedLeaderEpoch) }
        if request.epoch > epoch { return answer(.unknownLeaderEpoch) }
        guard isLeader else { return answer(.notLeaderOrFollower) }
        guard let snapshot = log.snapshot(id: request.snapshotId) else { return answer(.snapshotNotFound) }
        let size = Int64(snapshot.data.count)
        guard request.position >= 0, request.position <= size else { return answer(.positionOutOfRange, size: size) }
        let start = Int(request.position)
        let end = min(snapshot.data.count, start + max(1, min(request.maxBytes, config.snapshotChunkBytes)))
        answer(.none, size: size, bytes: Array(snapshot.data[start..<end]))
    }
}
