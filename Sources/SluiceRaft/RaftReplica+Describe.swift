/// What DescribeQuorum reports of one replica, as the leader last saw it.
public struct ReplicaProgressReport: Sendable, Equatable {
    public var replicaId: Int32
    public var isVoter: Bool
    /// -1 when the replica has not fetched in this epoch.
    public var logEndOffset: Int64
    /// On the host's clock; -1 when never.
    public var lastFetchTimestamp: Int64
    public var lastCaughtUpTimestamp: Int64
}

extension RaftReplica {
    /// Every replica the leader has heard from in its epoch (the voters always), itself
    /// included; nil on a node that does not lead. Times are on the clock the host passes in.
    public var replicaProgress: [ReplicaProgressReport]? {
        guard case .leader(let leader) = state else { return nil }
        return leader.progress.keys.sorted().map { id in
            let progress = leader.progress[id]
            let isSelf = id == config.nodeId
            return ReplicaProgressReport(
                replicaId: id, isVoter: config.voters.contains(id),
                logEndOffset: isSelf ? log.end.offset : progress?.endOffset ?? -1,
                lastFetchTimestamp: progress?.lastFetchAt ?? -1, lastCaughtUpTimestamp: progress?.lastCaughtUpAt ?? -1)
        }
    }
}
