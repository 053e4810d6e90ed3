import Testing

@testable import SluiceCore

/// Kafka's leader-side rules for followers: the high watermark from the ISR's log ends, the
/// caught-up clock that drives ISR shrinks, and who may join the ISR.
@Suite("Replica tracker")
struct ReplicaTrackerTests {
    @Test func theHighWatermarkIsTheSmallestLogEndInTheIsrOnceEveryMemberFetched() {
        var tracker = ReplicaTracker(leader: 1, replicas: [1, 2, 3], isr: [1, 2, 3], nowMs: 0)
        #expect(tracker.highWatermark(isr: [1, 2, 3], leaderEnd: 10, minInsync: 1) == nil, "follower ends unknown")
        tracker.followerFetched(2, offset: 7, leaderEnd: 10, nowMs: 1)
        #expect(tracker.highWatermark(isr: [1, 2, 3], leaderEnd: 10, minInsync: 1) == nil, "3 has not fetched")
        tracker.followerFetched(3, offset: 4, leaderEnd: 10, nowMs: 1)
        #expect(tracker.highWatermark(isr: [1, 2, 3], leaderEnd: 10, minInsync: 1) == 4)
        // A replica outside the ISR does not hold it back.
        #expect(tracker.highWatermark(isr: [1, 2], leaderEnd: 10, minInsync: 1) == 7)
        #expect(tracker.highWatermark(isr: [1], leaderEnd: 10, minInsync: 1) == 10)
        // Below min.insync.replicas it stays where it is.
        #expect(tracker.highWatermark(isr: [1], leaderEnd: 10, minInsync: 2) == nil)
        let known = tracker.followerFetched(9, offset: 0, leaderEnd: 10, nowMs: 1)
        #expect(!known, "not a replica")
    }

    @Test func aFollowerCatchesUpByReachingTheLeadersEndNowOrAtItsPreviousFetch() {
        var tracker = ReplicaTracker(leader: 1, replicas: [1, 2], isr: [1, 2], nowMs: 0)
        tracker.followerFetched(2, offset: 100, leaderEnd: 100, nowMs: 1_000)
        #expect(tracker.followers[2]?.lastCaughtUpMs == 1_000)
        // Steady load: never at the leader's end, but at the end the leader had last time.
        tracker.followerFetched(2, offset: 100, leaderEnd: 150, nowMs: 2_000)
        tracker.followerFetched(2, offset: 150, leaderEnd: 200, nowMs: 3_000)
        #expect(tracker.followers[2]?.lastCaughtUpMs == 2_000)
        #expect(tracker.outOfSync(isr: [1, 2], nowMs: 6_000, maxLagMs: 5_000).isEmpty)
        // Falls behind: no fetch reaches what the leader had.
        tracker.followerFetched(2, offset: 160, leaderEnd: 300, nowMs: 4_000)
        tracker.followerFetched(2, offset: 170, leaderEnd: 400, nowMs: 5_000)
        #expect(tracker.outOfSync(isr: [1, 2], nowMs: 7_001, maxLagMs: 5_000) == [2])
        #expect(tracker.outOfSync(isr: [1, 2], nowMs: 7_000, maxLagMs: 5_000).isEmpty)
    }

    @Test func aNewLeaderGivesInSyncFollowersAFullLagIntervalAndOthersNone() {
        let tracker = ReplicaTracker(leader: 1, replicas: [1, 2, 3], isr: [1, 2], nowMs: 10_000)
        #expect(tracker.outOfSync(isr: [1, 2], nowMs: 15_000, maxLagMs: 5_000).isEmpty)
        #expect(tracker.outOfSync(isr: [1, 2], nowMs: 15_001, maxLagMs: 5_000) == [2])
        #expect(tracker.followers[3]?.lastCaughtUpMs == 0)
    }

    @Test func aFollowerJoinsTheIsrWhenItHoldsTheHighWatermarkAndTheCurrentEpochsStart() {
        var tracker = ReplicaTracker(leader: 1, replicas: [1, 2, 3], isr: [1, 2], nowMs: 0)
        tracker.followerFetched(3, offset: 40, leaderEnd: 60, nowMs: 1)
        #expect(tracker.caughtUp(isr: [1, 2], highWatermark: 50, epochStartOffset: 0).isEmpty)
        tracker.followerFetched(3, offset: 50, leaderEnd: 60, nowMs: 2)
        #expect(tracker.caughtUp(isr: [1, 2], highWatermark: 50, epochStartOffset: 0) == [3])
        #expect(tracker.caughtUp(isr: [1, 2], highWatermark: 50, epochStartOffset: 55).isEmpty, "before this leader's epoch")
        #expect(tracker.caughtUp(isr: [1, 2, 3], highWatermark: 50, epochStartOffset: 0).isEmpty, "already in")
    }

    @Test func reassignedReplicasAreTrackedAndRemovedOnesForgotten() {
        var tracker = ReplicaTracker(leader: 1, replicas: [1, 2], isr: [1, 2], nowMs: 0)
        tracker.track(replicas: [1, 3])
        #expect(tracker.followers.keys.sorted() == [3])
    }
}
