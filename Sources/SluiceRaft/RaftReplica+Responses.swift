import KafkaProtocol

extension RaftReplica {
    /// Whether `requestId` is the fetch this node has in flight (to its leader, or, for an
    /// observer, to the voter it asked who leads); if so it is no longer in flight.
    private func takeInFlight(_ requestId: UInt64) -> Bool {
        switch state {
        case .follower(var follower):
            guard follower.inFlight?.requestId == requestId else { return false }
            follower.inFlight = nil
            state = .follower(follower)
            return true
        case .unattached(var unattached):
            guard unattached.discovery?.requestId == requestId else { return false }
            unattached.discovery = nil
            state = .unattached(unattached)
            return true
        case .candidate, .leader:
            return false
        }
    }

    /// After a failed fetch: try again a little later (the fetch timeout still runs).
    private func backOffFetch(now: Int64) {
        if case .follower(var follower) = state {
            follower.nextFetchAt = now + retryBackoffMs
            state = .follower(follower)
        }
    }

    func handleFetchResponse(_ response: RaftMessage.FetchResponse, from source: Int32, now: Int64) throws {
        guard takeInFlight(response.requestId) else { return }
        if try observe(epoch: response.epoch, leaderId: response.leaderId, now: now) { return }
        guard response.epoch == epoch, case .follower(var follower) = state, follower.leaderId == source else {
            backOffFetch(now: now)
            return
        }
        guard response.error == .none else {
            backOffFetch(now: now)
            sendNextFetch(now: now)
            return
        }
        follower.fetchDeadline = now + config.fetchTimeoutMs
        state = .follower(follower)

        if let diverging = response.divergingEpoch {
            let truncation = log.truncationOffset(forDivergingEnd: diverging)
            guard truncation >= highWatermark, truncation >= log.startOffset else {
                throw RaftError.invariantBroken(
                    "leader \(source) of epoch \(epoch) asks node \(config.nodeId) to truncate to \(truncation), "
                        + "below its high watermark \(highWatermark) or log start \(log.startOffset)")
            }
            try log.truncate(to: truncation)
        } else if let snapshotId = response.snapshotId {
            follower.transfer = SnapshotTransfer(id: snapshotId, bytes: [])
            state = .follower(follower)
        } else {
            if response.baseOffset == log.end.offset, !response.records.isEmpty {
                try log.append(response.records)
                // Flushed before the next fetch: its offset tells the leader these are durable here.
                try log.flush()
            }
            if response.highWatermark >= 0 {
                advanceHighWatermark(to: min(response.highWatermark, log.flushedEndOffset), now: now)
            }
        }
        sendNextFetch(now: now)
    }

    func handleFetchSnapshotResponse(_ response: RaftMessage.FetchSnapshotResponse, from source: Int32, now: Int64) throws {
        guard takeInFlight(response.requestId) else { return }
        if try observe(epoch: response.epoch, leaderId: response.leaderId, now: now) { return }
        guard response.epoch == epoch, case .follower(var follower) = state, follower.leaderId == source,
              var transfer = follower.transfer else {
            backOffFetch(now: now)
            return
        }
        switch response.error {
        case .none:
            guard response.snapshotId == transfer.id, response.position == Int64(transfer.bytes.count),
                  response.size >= Int64(transfer.bytes.count) + Int64(response.bytes.count) else {
                follower.transfer = nil
                break
            }
            follower.fetchDeadline = now + config.fetchTimeoutMs
            transfer.bytes += response.bytes
            if Int64(transfer.bytes.count) == response.size {
                guard transfer.id.offset >= highWatermark else {
                    throw RaftError.invariantBroken("snapshot \(transfer.id) from leader \(source) is below the high watermark \(highWatermark)")
                }
                // The snapshot replaces the whole log, as Kafka's truncateToLatestSnapshot does: the
                // records this node held past the leader's snapshot were never checked against the
                // leader's log (the leader answered with a snapshot because they did not match),
                // and keeping them would hand stale epochs to the next leader's divergence check.
                try log.truncate(to: log.startOffset)
                try log.storeSnapshot(RaftSnapshot(id: transfer.id, data: transfer.bytes))
                follower.transfer = nil
                state = .follower(follower)
                // The leader snapshots only committed records.
                advanceHighWatermark(to: transfer.id.offset, now: now)
                sendNextFetch(now: now)
                return
            }
            follower.transfer = transfer
        case .snapshotNotFound, .positionOutOfRange:
            // The leader has a newer snapshot by now: fetch again to learn it.
            follower.transfer = nil
        default:
            follower.nextFetchAt = now + retryBackoffMs
        }
        state = .follower(follower)
        sendNextFetch(now: now)
    }
}
