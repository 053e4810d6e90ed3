/// What a partition's leader knows of its followers, and the rules Kafka derives from it
/// (cluster/Replica.scala and Partition's maybeIncrementLeaderHW, getOutOfSyncReplicas and
/// isReplicaIsrEligible). Pure: times come in as arguments, so the simulator drives it as the
/// broker does.
///
/// A follower's log end here is the offset it last fetched from. A follower fetches offset N
/// only once everything below N is on its disk, so the high watermark computed from these —
/// the smallest over the in-sync replicas — counts only durable copies.
public struct ReplicaTracker: Sendable, Equatable {
    public struct Follower: Sendable, Equatable {
        /// -1 until the follower fetches from this leader.
        public var logEnd: Int64 = -1
        public var lastFetchMs: Int64 = -1
        /// When the follower last held everything the leader had (the ISR's lag clock).
        public var lastCaughtUpMs: Int64
        /// The leader's end at the follower's previous fetch.
        var leaderEndAtLastFetch: Int64 = -1
        /// The broker epoch (registration) the follower last fetched under, -1 when it did not
        /// say: sent with an ISR expansion so the controller refuses a replica that restarted
        /// since (KIP-903).
        public var brokerEpoch: Int64 = -1
    }

    public let leader: Int32
    public private(set) var followers: [Int32: Follower]

    /// A new leader (Kafka's resetReplicaState): nothing is known of the followers' logs yet;
    /// in-sync followers get a full lag interval from now before they may be dropped.
    public init(leader: Int32, replicas: [Int32], isr: [Int32], nowMs: Int64) {
        self.leader = leader
        var followers: [Int32: Follower] = [:]
        for replica in replicas where replica != leader {
            followers[replica] = Follower(lastCaughtUpMs: isr.contains(replica) ? nowMs : 0)
        }
        self.followers = followers
    }

    /// Replicas added by a reassignment get an entry; removed ones lose theirs.
    public mutating func track(replicas: [Int32]) {
        for replica in replicas where replica != leader && followers[replica] == nil {
            followers[replica] = Follower(lastCaughtUpMs: 0)
        }
        for replica in followers.keys where !replicas.contains(replica) { followers[replica] = nil }
    }

    /// A fetch by `replica` from `offset` while the leader's log ended at `leaderEnd`
    /// (Replica.updateFetchStateOrThrow). False for a broker that is not a follower here.
    /// The follower counts as caught up when it reached the leader's end now, or the end the
    /// leader had at its previous fetch (else, under steady load, it never would).
    @discardableResult
    public mutating func followerFetched(_ replica: Int32, brokerEpoch: Int64 = -1, offset: Int64, leaderEnd: Int64,
                                         nowMs: Int64) -> Bool {
        guard var follower = followers[replica] else { return false }
        follower.brokerEpoch = brokerEpoch
        if offset >= leaderEnd {
            follower.lastCaughtUpMs = max(follower.lastCaughtUpMs, nowMs)
        } else if follower.leaderEndAtLastFetch >= 0, offset >= follower.leaderEndAtLastFetch {
            follower.lastCaughtUpMs = max(follower.lastCaughtUpMs, follower.lastFetchMs)
        }
        follower.logEnd = offset
        follower.leaderEndAtLastFetch = leaderEnd
        follower.lastFetchMs = nowMs
        followers[replica] = follower
        return true
    }

    /// The high watermark the in-sync replicas allow: the smallest log end over `isr` (the
    /// leader's own is `leaderEnd`), nil while a member's end is unknown or fewer than
    /// `minInsync` replicas are in sync (the high watermark then stays where it is, so records
    /// an acks=1 producer wrote meanwhile are not exposed on too few copies).
    public func highWatermark(isr: [Int32], leaderEnd: Int64, minInsync: Int) -> Int64? {
        guard isr.count >= minInsync else { return nil }
        var low = leaderEnd
        for replica in isr where replica != leader {
            guard let follower = followers[replica], follower.logEnd >= 0 else { return nil }
            low = min(low, follower.logEnd)
        }
        return low
    }

    /// In-sync followers that have not caught up for longer than `maxLagMs`.
    public func outOfSync(isr: [Int32], nowMs: Int64, maxLagMs: Int64) -> [Int32] {
        isr.filter { replica in
            guard replica != leader, let follower = followers[replica] else { return false }
            return nowMs - follower.lastCaughtUpMs > maxLagMs
        }
    }

    /// Followers not in the ISR that may join it: they hold everything up to the high
    /// watermark and everything the leader wrote before its current epoch began.
    public func caughtUp(isr: [Int32], highWatermark: Int64, epochStartOffset: Int64) -> [Int32] {
        followers.keys.sorted().filter { replica in
            guard !isr.contains(replica), let follower = followers[replica] else { return false }
            return follower.logEnd >= highWatermark && follower.logEnd >= epochStartOffset
        }
    }
}
