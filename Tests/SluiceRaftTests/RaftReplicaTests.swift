import KafkaProtocol
import Testing
@testable import SluiceRaft

/// The quorum's rules one at a time, each in the situation that needs it (the simulator covers
/// their interleavings).
@Suite struct RaftReplicaTests {
    @Test func aLeaderIsElectedAndEveryVoterCommitsItsRecords() throws {
        let quorum = try TestQuorum(voters: [1, 2, 3])
        try quorum.elect(1)
        #expect(quorum.replica(1).isLeader)
        #expect(quorum.replica(1).epoch == 1)
        try quorum.replica(1).append([Array("a".utf8), Array("b".utf8)], now: quorum.now)
        try quorum.advance(by: 200)
        for id: Int32 in [1, 2, 3] {
            let replica = quorum.replica(id)
            #expect(replica.leaderId == 1)
            // The LeaderChangeMessage, then the two records.
            #expect(replica.highWatermark == 3)
            guard case .records(0, let records)? = replica.readCommitted(from: 0) else {
                Issue.record("node \(id) has nothing committed")
                continue
            }
            #expect(records.map(\.isControl) == [true, false, false])
            #expect(records.dropFirst().map(\.payload) == [Array("a".utf8), Array("b".utf8)])
        }
        let leaderChange = try #require(LeaderChangeRecord.decode(quorum.log(2).read(from: 0, maxRecords: 1)[0].payload))
        #expect(leaderChange.leaderId == 1)
        #expect(leaderChange.voters.map(\.voterId) == [1, 2, 3])
    }

    @Test func aVoteIsStoredBeforeItIsAnswered() throws {
        let quorum = try TestQuorum(voters: [1, 2, 3])
        let voter = quorum.replica(2)
        try voter.handle(.vote(.init(requestId: 7, candidateEpoch: 4, candidateId: 1, lastOffset: .zero)), from: 1, now: 0)
        let answers = voter.drainOutbound()
        #expect(answers.count == 1)
        #expect(answers.first?.message.voteResponse?.voteGranted == true)
        #expect(answers.first?.message.voteResponse?.epoch == 4)
        // By the time the answer can leave, the vote is on disk.
        #expect(quorum.store(2).state == ElectionState(epoch: 4, votedId: 1))
    }

    @Test func aVoteSurvivesARestartAndIsNotGivenTwice() throws {
        for forgetful in [false, true] {
            let store = MemoryQuorumStateStore()
            store.forgetsVotes = forgetful
            let quorum = try TestQuorum(voters: [1, 2, 3], stores: [3: store])
            try quorum.replica(3).handle(.vote(.init(requestId: 1, candidateEpoch: 1, candidateId: 1, lastOffset: .zero)), from: 1, now: 0)
            #expect(quorum.replica(3).drainOutbound().first?.message.voteResponse?.voteGranted == true)
            try quorum.restart(3)
            // Another candidate of the same epoch.
            try quorum.replica(3).handle(.vote(.init(requestId: 2, candidateEpoch: 1, candidateId: 2, lastOffset: .zero)), from: 2, now: 0)
            let second = quorum.replica(3).drainOutbound().first?.message.voteResponse
            // With the vote on disk the second is refused; a store that forgets votes grants it,
            // and both candidates could lead epoch 1: why the vote is stored before it is sent.
            #expect(second?.voteGranted == forgetful)
            #expect(second?.epoch == 1)
        }
    }

    @Test func aCandidateWithAnOlderLogGetsNoVoteButMovesTheEpoch() throws {
        let longer = log([record(1, "a"), record(1, "b"), record(2, "c")])
        let quorum = try TestQuorum(voters: [1, 2, 3], logs: [2: longer])
        let voter = quorum.replica(2)
        // A longer log of an older epoch, and a shorter log of the same epoch, both lose.
        for (epoch, last) in [(Int32(5), OffsetAndEpoch(offset: 10, epoch: 1)), (6, OffsetAndEpoch(offset: 2, epoch: 2))] {
            try voter.handle(.vote(.init(requestId: 1, candidateEpoch: epoch, candidateId: 1, lastOffset: last)), from: 1, now: 0)
            let answer = voter.drainOutbound().first?.message.voteResponse
            #expect(answer?.voteGranted == false)
            #expect(voter.epoch == epoch)
        }
        try voter.handle(.vote(.init(requestId: 1, candidateEpoch: 7, candidateId: 1, lastOffset: OffsetAndEpoch(offset: 3, epoch: 2))),
                         from: 1, now: 0)
        #expect(voter.drainOutbound().first?.message.voteResponse?.voteGranted == true)
    }

    /// Raft §5.4.2, Kafka's LeaderState: records of earlier epochs held by a majority are
    /// committed only with the new leader's own first record.
    @Test func aNewLeaderExposesNothingBeforeARecordOfItsEpochCommits() throws {
        let earlier = [record(1, "x"), record(1, "y"), record(1, "z")]
        let stores = [1, 2, 3].reduce(into: [Int32: MemoryQuorumStateStore]()) { stores, id in
            let store = MemoryQuorumStateStore()
            store.state = ElectionState(epoch: 1)
            stores[Int32(id)] = store
        }
        let quorum = try TestQuorum(voters: [1, 2, 3], logs: [1: log(earlier), 2: log(earlier)], stores: stores)
        // Node 2 wins epoch 2; every fetch is lost for now.
        quorum.now += 5_000
        try quorum.replica(2).tick(now: quorum.now)
        try quorum.deliverAll { _, _, message in message.isFetch }
        let leader = quorum.replica(2)
        #expect(leader.isLeader && leader.epoch == 2)
        #expect(leader.highWatermark == 0)
        #expect(leader.readCommitted(from: 0) == nil)

        // Node 1 reports holding offsets 0-2, a majority with the leader, but its own record
        // (offset 3) is on the leader alone: still nothing committed, and fetchers are told -1.
        try leader.handle(.fetch(.init(requestId: 1, replicaId: 1, epoch: 2, fetchOffset: 3, lastFetchedEpoch: 1, maxWaitMs: 0)),
                          from: 1, now: quorum.now)
        let first = try #require(leader.drainOutbound().first?.message.fetchResponse)
        #expect(first.highWatermark == -1)
        #expect(first.records.map(\.isControl) == [true])
        #expect(leader.highWatermark == 0)

        // Once node 1 has the leader's record, everything up to it commits.
        try leader.handle(.fetch(.init(requestId: 2, replicaId: 1, epoch: 2, fetchOffset: 4, lastFetchedEpoch: 2, maxWaitMs: 0)),
                          from: 1, now: quorum.now)
        #expect(leader.highWatermark == 4)
        #expect(leader.drainOutbound().first?.message.fetchResponse?.highWatermark == 4)
    }

    /// KIP-595's divergence: a follower holding records of an old epoch that the new leader
    /// never had truncates to where the logs agree, then takes the leader's records.
    @Test func aFollowerThatDivergedTruncatesToTheLeadersLog() throws {
        let shared = [record(1, "a"), record(1, "b")]
        let stores = [1, 2, 3].reduce(into: [Int32: MemoryQuorumStateStore]()) { stores, id in
            let store = MemoryQuorumStateStore()
            store.state = ElectionState(epoch: 1)
            stores[Int32(id)] = store
        }
        let quorum = try TestQuorum(
            voters: [1, 2, 3],
            logs: [1: log(shared), 2: log(shared), 3: log(shared + [record(1, "only-on-3"), record(1, "also-only-on-3")])],
            stores: stores)
        quorum.now += 5_000
        try quorum.replica(1).tick(now: quorum.now)
        var delivered = try quorum.deliverAll()
        #expect(quorum.replica(1).isLeader)
        try quorum.replica(1).append([Array("c".utf8)], now: quorum.now)
        delivered += try quorum.advanceCollecting(by: 300)
        let diverging = delivered.compactMap { $0.2.fetchResponse?.divergingEpoch }
        #expect(diverging.contains(OffsetAndEpoch(offset: 2, epoch: 1)))
        let expected = quorum.log(1).read(from: 0, maxRecords: 100)
        #expect(expected.map { String(decoding: $0.payload, as: UTF8.self) }.suffix(1) == ["c"])
        #expect(quorum.log(3).read(from: 0, maxRecords: 100) == expected)
        #expect(quorum.replica(3).highWatermark == 4)
    }

    @Test func requestsToTheWrongReplicaGetKafkasErrors() throws {
        let quorum = try TestQuorum(voters: [1, 2, 3], observers: [4])
        try quorum.elect(1)
        try quorum.advance(by: 100)
        let leader = quorum.replica(1), follower = quorum.replica(2)
        func fetchError(_ replica: RaftReplica, epoch: Int32) throws -> KafkaErrorCode? {
            try replica.handle(.fetch(.init(requestId: 9, replicaId: 4, epoch: epoch, fetchOffset: 0, lastFetchedEpoch: 0,
                                            maxWaitMs: 0)), from: 4, now: quorum.now)
            return replica.drainOutbound().first?.message.fetchResponse?.error
        }
        #expect(try fetchError(leader, epoch: 0) == .fencedLeaderEpoch)
        #expect(try fetchError(leader, epoch: 2) == .unknownLeaderEpoch)
        #expect(try fetchError(follower, epoch: 1) == .notLeaderOrFollower)
        #expect(try fetchError(leader, epoch: 1) == KafkaErrorCode.none)

        // Node 4 is not a voter here: its Vote and BeginQuorumEpoch are refused.
        try leader.handle(.vote(.init(requestId: 1, candidateEpoch: 9, candidateId: 4, lastOffset: .zero)), from: 4, now: quorum.now)
        #expect(leader.drainOutbound().first?.message.voteResponse?.error == .inconsistentVoterSet)
        #expect(leader.isLeader && leader.epoch == 1)
        try follower.handle(.beginQuorumEpoch(.init(requestId: 1, epoch: 9, leaderId: 4)), from: 4, now: quorum.now)
        guard case .beginQuorumEpochResponse(let begin)? = follower.drainOutbound().first?.message else {
            Issue.record("no BeginQuorumEpoch answer")
            return
        }
        #expect(begin.error == .inconsistentVoterSet)
        #expect(follower.epoch == 1 && follower.leaderId == 1)

        try leader.handle(.fetchSnapshot(.init(requestId: 1, replicaId: 4, epoch: 1, snapshotId: OffsetAndEpoch(offset: 5, epoch: 1),
                                               position: 0, maxBytes: 100)), from: 4, now: quorum.now)
        guard case .fetchSnapshotResponse(let snapshot)? = leader.drainOutbound().first?.message else {
            Issue.record("no FetchSnapshot answer")
            return
        }
        #expect(snapshot.error == .snapshotNotFound)
    }

    @Test func aReplicaBelowTheLeadersLogStartLoadsItsSnapshotInChunks() throws {
        let quorum = try TestQuorum(voters: [1], observers: [2]) { $0.snapshotChunkBytes = 4 }
        let leader = quorum.replica(1)
        #expect(leader.isLeader)
        try leader.append((0..<10).map { [UInt8($0)] }, now: quorum.now)
        // The observer is not running yet: cut it off while the leader commits and snapshots.
        try quorum.advance(by: 100) { _, to, _ in to == 2 }
        #expect(leader.highWatermark == 11)
        let state: [UInt8] = Array("state-of-11-records".utf8)
        try leader.createSnapshot(endOffset: 11, data: state)
        #expect(quorum.log(1).startOffset == 11)
        try leader.append([[42]], now: quorum.now)

        try quorum.advance(by: 3_000)
        let observer = quorum.replica(2)
        #expect(observer.leaderId == 1)
        #expect(quorum.log(2).latestSnapshot == RaftSnapshot(id: OffsetAndEpoch(offset: 11, epoch: 1), data: state))
        #expect(observer.readCommitted(from: 0) == .snapshot(RaftSnapshot(id: OffsetAndEpoch(offset: 11, epoch: 1), data: state)))
        #expect(observer.readCommitted(from: 11) == .records(baseOffset: 11, [RaftRecord(epoch: 1, payload: [42])]))
    }

    /// Found by the simulator (seed 1849 of `make simulate`): a follower whose records past the
    /// leader's snapshot were stale kept them after loading the snapshot, and a later leader
    /// then asked it to truncate below its high watermark. Loading a fetched snapshot replaces
    /// the whole log, as Kafka's truncateToLatestSnapshot does.
    @Test func aFetchedSnapshotReplacesTheFollowersOwnRecords() throws {
        let leaderLog = log([record(1, "x"), record(2, "y"), record(2, "z")])
        leaderLog.storeSnapshot(RaftSnapshot(id: OffsetAndEpoch(offset: 3, epoch: 2), data: Array("xyz".utf8)))
        let leaderStore = MemoryQuorumStateStore()
        leaderStore.state = ElectionState(epoch: 2)
        let stale = log([record(1, "x"), record(1, "q"), record(1, "r"), record(1, "s"), record(1, "t")])
        let quorum = try TestQuorum(voters: [1], observers: [2], logs: [1: leaderLog, 2: stale], stores: [1: leaderStore])
        #expect(quorum.replica(1).isLeader && quorum.replica(1).epoch == 3)
        try quorum.advance(by: 2_000)
        let follower = quorum.log(2)
        #expect(follower.latestSnapshot?.id == OffsetAndEpoch(offset: 3, epoch: 2))
        #expect(follower.startOffset == 3)
        #expect(follower.read(from: 3, maxRecords: 10) == leaderLog.read(from: 3, maxRecords: 10))
        #expect(follower.read(from: 3, maxRecords: 10).map(\.epoch) == [3])
    }

    @Test func aLeaderThatLosesItsMajorityResigns() throws {
        let quorum = try TestQuorum(voters: [1, 2, 3])
        try quorum.elect(1)
        try quorum.advance(by: 500)
        #expect(quorum.replica(1).isLeader)
        // Cut node 1 off: check quorum (1.5 × fetch timeout) makes it step down, and the other
        // two elect a leader of a later epoch.
        try quorum.advance(by: 5_000) { from, to, _ in from == 1 || to == 1 }
        #expect(!quorum.replica(1).isLeader)
        let newLeader = [Int32(2), 3].first { quorum.replica($0).isLeader }
        #expect(newLeader != nil)
        #expect(quorum.replica(newLeader ?? 2).epoch > 1)
    }

    @Test func aResigningLeaderHandsOverBeforeTheFetchTimeout() throws {
        let quorum = try TestQuorum(voters: [1, 2, 3])
        try quorum.elect(1)
        try quorum.advance(by: 500)
        let resignedAt = quorum.now
        try quorum.replica(1).resign(now: quorum.now)
        // EndQuorumEpoch goes out; after it nothing more from node 1.
        try quorum.deliverAll()
        try quorum.advance(by: 1_900) { from, _, _ in from == 1 }
        let newLeader = [Int32(2), 3].first { quorum.replica($0).isLeader }
        #expect(newLeader != nil, "no new leader \(quorum.now - resignedAt) ms after the resignation")
    }
}

extension TestQuorum {
    /// `advance`, returning every message delivered on the way.
    func advanceCollecting(by milliseconds: Int64) throws -> [(Int32, Int32, RaftMessage)] {
        var all: [(Int32, Int32, RaftMessage)] = []
        let end = now + milliseconds
        while now < end {
            now += 10
            for id in nodes.keys.sorted() { try nodes[id]!.replica.tick(now: now) }
            all += try deliverAll()
        }
        return all
    }
}
