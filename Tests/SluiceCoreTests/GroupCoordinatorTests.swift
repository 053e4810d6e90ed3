import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage
import Synchronization
import Testing

@testable import SluiceCore

/// The coordinator driven by hand: a manual clock, timers fired by `tick()`, an in-memory store.
/// Each test is a scenario Kafka clients rely on, with Apache Kafka's error codes.
@Suite("Group coordinator")
struct GroupCoordinatorTests {
    @Test func memberIdRequiredOnlyFromJoinGroupV4() throws {
        let harness = try CoordinatorHarness()
        let first = harness.join("g", memberId: "", requireKnownMemberId: true)
        #expect(first.value?.error == .memberIdRequired)
        let assigned = try #require(first.value?.memberId)
        #expect(assigned.hasPrefix("client-"))

        let second = harness.join("g", memberId: assigned, requireKnownMemberId: true)
        #expect(second.value == nil, "the join waits for group.initial.rebalance.delay.ms")
        harness.advance(by: 3000)
        #expect(second.value?.error == KafkaErrorCode.none)
        #expect(second.value?.generationId == 1)
        #expect(second.value?.memberId == assigned)

        // Pre-v4 clients join in one round trip (kafka-go breaks on MEMBER_ID_REQUIRED).
        let old = harness.join("g-old", memberId: "", requireKnownMemberId: false)
        harness.advance(by: 3000)
        #expect(old.value?.error == KafkaErrorCode.none)
        #expect(old.value?.generationId == 1)
    }

    @Test func membersJoiningWithinTheInitialDelayShareOneGeneration() throws {
        let harness = try CoordinatorHarness()
        let a = harness.join("g", memberId: "")
        harness.advance(by: 1000)
        let b = harness.join("g", memberId: "")
        harness.advance(by: 2000)
        // B arrived during the delay: the delay is extended once more.
        #expect(a.value == nil && b.value == nil)
        harness.advance(by: 3000)
        let resultA = try #require(a.value)
        let resultB = try #require(b.value)
        #expect(resultA.generationId == 1 && resultB.generationId == 1)
        #expect(resultA.leaderId == resultA.memberId, "the first member leads")
        #expect(resultA.members.map(\.memberId) == [resultA.memberId, resultB.memberId])
        #expect(resultB.members.isEmpty, "only the leader sees the members")
        #expect(resultA.protocolName == "range")

        let followerSync = harness.sync("g", generation: 1, memberId: resultB.memberId)
        #expect(followerSync.value == nil, "followers wait for the leader's assignment")
        let leaderSync = harness.sync("g", generation: 1, memberId: resultA.memberId,
                                      assignments: [resultA.memberId: bytes([1]), resultB.memberId: bytes([2])])
        #expect(leaderSync.value?.assignment == bytes([1]))
        #expect(followerSync.value?.assignment == bytes([2]))
        #expect(followerSync.value?.protocolName == "range")
        #expect(harness.coordinator.describeGroup("g").state == .stable)
        #expect(harness.store.groupSnapshots("g").last??.members.map(\.assignment) == [bytes([1]), bytes([2])],
                "the assignment is stored before members get it")
    }

    @Test func aNewMemberMakesTheOthersRejoinAndLaggardsAreDropped() throws {
        let harness = try CoordinatorHarness()
        let (a, b) = try harness.stableGroup("g")
        let c = harness.join("g", memberId: "")
        #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: a, groupInstanceId: nil) == .rebalanceInProgress)
        #expect(harness.sync("g", generation: 1, memberId: a).value?.error == .rebalanceInProgress)
        let rejoinA = harness.join("g", memberId: a)
        // B keeps heartbeating but never rejoins: at the rebalance timeout (30 s) it is removed
        // and the others move on.
        for _ in 0..<29 {
            harness.advance(by: 1000)
            #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: b, groupInstanceId: nil) == .rebalanceInProgress)
        }
        #expect(rejoinA.value == nil)
        harness.advance(by: 1_000)
        #expect(rejoinA.value?.generationId == 2)
        #expect(c.value?.generationId == 2)
        #expect(rejoinA.value?.members.count == 2)
        #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 2, memberId: b, groupInstanceId: nil) == .unknownMemberId)
        #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: a, groupInstanceId: nil) == .illegalGeneration)
    }

    @Test func aMemberWhoseSessionExpiresIsRemoved() throws {
        let harness = try CoordinatorHarness()
        let (a, b) = try harness.stableGroup("g")
        for _ in 0..<9 {
            harness.advance(by: 1000)
            #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: a, groupInstanceId: nil) == KafkaErrorCode.none)
        }
        // B sent nothing for 10 s (its session timeout).
        harness.advance(by: 1000)
        #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: a, groupInstanceId: nil) == .rebalanceInProgress)
        let rejoin = harness.join("g", memberId: a)
        #expect(rejoin.value?.generationId == 2, "the only member left rejoined: the rebalance completes at once")
        #expect(rejoin.value?.members.map(\.memberId) == [a])
        #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: b, groupInstanceId: nil) == .unknownMemberId)
    }

    @Test func leavingMembersTriggerARebalanceAndTheLastOneEmptiesTheGroup() throws {
        let harness = try CoordinatorHarness()
        let (a, b) = try harness.stableGroup("g")
        let left = harness.coordinator.leaveGroup(groupId: "g", members: [LeavingMember(memberId: b, groupInstanceId: nil)])
        #expect(left.members.map(\.error) == [KafkaErrorCode.none])
        let unknown = harness.coordinator.leaveGroup(groupId: "g", members: [LeavingMember(memberId: "nobody", groupInstanceId: nil)])
        #expect(unknown.members.map(\.error) == [.unknownMemberId])
        let rejoin = harness.join("g", memberId: a)
        #expect(rejoin.value?.generationId == 2)
        _ = harness.coordinator.leaveGroup(groupId: "g", members: [LeavingMember(memberId: a, groupInstanceId: nil)])
        #expect(harness.coordinator.describeGroup("g").state == .preparingRebalance || harness.coordinator.describeGroup("g").state == .empty)
        harness.advance(by: 100)
        let description = harness.coordinator.describeGroup("g")
        #expect(description.state == .empty)
        #expect(description.members.isEmpty)
        #expect(harness.coordinator.listGroups(states: ["empty"]).map(\.groupId) == ["g"])
        #expect(harness.coordinator.listGroups(states: ["Stable"]).isEmpty)
    }

    @Test func staticMembersRejoinWithoutARebalanceAndFenceTheirOldId() throws {
        let harness = try CoordinatorHarness()
        let first = harness.join("g", memberId: "", instanceId: "instance-1")
        let other = harness.join("g", memberId: "")
        harness.advance(by: 6000)
        let staticId = try #require(first.value?.memberId)
        let otherId = try #require(other.value?.memberId)
        _ = harness.sync("g", generation: 1, memberId: otherId)
        _ = harness.sync("g", generation: 1, memberId: staticId, assignments: [staticId: bytes([7]), otherId: bytes([8])])

        // The static member restarts: unknown member id, same instance id, same subscription.
        let back = harness.join("g", memberId: "", instanceId: "instance-1")
        let newId = try #require(back.value?.memberId)
        #expect(back.value?.error == KafkaErrorCode.none)
        #expect(newId != staticId)
        #expect(back.value?.generationId == 1, "no new generation")
        #expect(harness.coordinator.describeGroup("g").state == .stable)
        #expect(harness.sync("g", generation: 1, memberId: newId, instanceId: "instance-1").value?.assignment == bytes([7]))
        #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: otherId, groupInstanceId: nil) == KafkaErrorCode.none)
        #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: staticId, groupInstanceId: "instance-1") == .fencedInstanceId)
        let zombieCommit = harness.commit("g", generation: 1, memberId: staticId, instanceId: "instance-1", offsets: [("t", 0, 5)])
        #expect(zombieCommit.value?[TopicPartitionKey(topic: "t", partition: 0)] == .fencedInstanceId)
    }

    @Test func offsetCommitFollowsKafkasMembershipRules() throws {
        let harness = try CoordinatorHarness()
        let partition = TopicPartitionKey(topic: "t", partition: 0)
        // A consumer using assign() commits with generation -1 and no member id.
        #expect(harness.commit("simple", generation: -1, memberId: "", offsets: [("t", 0, 42)]).value?[partition] == KafkaErrorCode.none)
        #expect(harness.coordinator.fetchOffsets(groupId: "simple", partitions: [partition]).first?.1?.offset == 42)
        #expect(harness.coordinator.listGroups().map(\.groupId) == ["simple"])
        // A generation for a group the coordinator does not know.
        #expect(harness.commit("unknown", generation: 3, memberId: "m", offsets: [("t", 0, 1)]).value?[partition] == .illegalGeneration)

        let (a, _) = try harness.stableGroup("g")
        #expect(harness.commit("g", generation: 1, memberId: a, offsets: [("t", 0, 10)]).value?[partition] == KafkaErrorCode.none)
        #expect(harness.commit("g", generation: 0, memberId: a, offsets: [("t", 0, 11)]).value?[partition] == .illegalGeneration)
        #expect(harness.commit("g", generation: 1, memberId: "stranger", offsets: [("t", 0, 11)]).value?[partition] == .unknownMemberId)
        #expect(harness.commit("g", generation: -1, memberId: "", offsets: [("t", 0, 11)]).value?[partition] == .unknownMemberId,
                "a group with members takes commits only from members")
        let tooLong = harness.commit("g", generation: 1, memberId: a, offsets: [("t", 0, 12)], metadata: String(repeating: "x", count: 4097))
        #expect(tooLong.value?[partition] == .offsetMetadataTooLarge)
        let fetched = harness.coordinator.fetchOffsets(groupId: "g", partitions: [partition, TopicPartitionKey(topic: "t", partition: 9)])
        #expect(fetched.map { $0.1?.offset } == [10, nil], "uncommitted partitions read as nothing (-1 on the wire)")

        // Between the join response and the leader's assignment, members may not commit.
        _ = harness.join("g", memberId: "")
        let rejoin = harness.join("g", memberId: a)
        // B does not rejoin; its session ends and the join completes without it.
        harness.advance(by: 10_000)
        let generation = try #require(rejoin.value?.generationId)
        #expect(harness.commit("g", generation: generation, memberId: a, offsets: [("t", 0, 13)]).value?[partition] == .rebalanceInProgress)
    }

    @Test func commitsAreAnsweredOnlyOnceDurable() throws {
        let harness = try CoordinatorHarness()
        harness.store.holdCompletions = true
        let partition = TopicPartitionKey(topic: "t", partition: 0)
        let pending = harness.commit("g", generation: -1, memberId: "", offsets: [("t", 0, 5)])
        #expect(pending.value == nil)
        #expect(harness.coordinator.fetchOffsets(groupId: "g", partitions: [partition]).first?.1 == nil,
                "an offset is not visible before it is stored")
        harness.store.completeAll(with: .failure(GroupLogError(description: "disk full")))
        #expect(pending.value?[partition] == .coordinatorNotAvailable)
        #expect(harness.coordinator.fetchOffsets(groupId: "g", partitions: [partition]).first?.1 == nil)
        #expect(harness.coordinator.listGroups().isEmpty, "a group made only for a failed commit is not kept")
    }

    @Test func offsetsOfEmptyGroupsExpireAfterTheRetention() throws {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionMs = 60_000
        let harness = try CoordinatorHarness(config: config)
        _ = harness.commit("simple", generation: -1, memberId: "", offsets: [("t", 0, 1)])
        let (a, b) = try harness.stableGroup("g", topics: ["t"])
        _ = harness.commit("g", generation: 1, memberId: a, offsets: [("t", 0, 7), ("gone", 0, 3)])
        for _ in 0..<14 {
            harness.advance(by: 5_000)
            _ = harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: a, groupInstanceId: nil)
            _ = harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: b, groupInstanceId: nil)
        }
        harness.coordinator.expireOffsets()
        #expect(harness.coordinator.fetchOffsets(groupId: "simple", partitions: nil).isEmpty)
        #expect(!harness.coordinator.listGroups().map(\.groupId).contains("simple"))
        // A stable consumer group keeps offsets of topics it subscribes to, not of others.
        #expect(harness.coordinator.fetchOffsets(groupId: "g", partitions: nil).map(\.0) == [TopicPartitionKey(topic: "t", partition: 0)])

        _ = harness.coordinator.leaveGroup(groupId: "g", members: [LeavingMember(memberId: a, groupInstanceId: nil),
                                                                   LeavingMember(memberId: b, groupInstanceId: nil)])
        harness.advance(by: 100)
        #expect(harness.coordinator.describeGroup("g").state == .empty)
        harness.advance(by: 59_000)
        harness.coordinator.expireOffsets()
        #expect(!harness.coordinator.fetchOffsets(groupId: "g", partitions: nil).isEmpty, "the retention counts from when the group emptied")
        harness.advance(by: 1_000)
        harness.coordinator.expireOffsets()
        #expect(harness.coordinator.fetchOffsets(groupId: "g", partitions: nil).isEmpty)
        #expect(harness.coordinator.describeGroup("g").state == .dead)
    }

    @Test func deleteGroupsAndOffsetDelete() throws {
        let harness = try CoordinatorHarness()
        let (a, b) = try harness.stableGroup("g", topics: ["t"])
        _ = harness.commit("g", generation: 1, memberId: a, offsets: [("t", 0, 7), ("other", 0, 3)])
        let deleteActive = ResultBox<[(String, KafkaErrorCode)]>()
        harness.coordinator.deleteGroups(["g", "missing", ""]) { deleteActive.value = $0 }
        #expect(deleteActive.value?.map(\.1) == [.nonEmptyGroup, .groupIdNotFound, .invalidGroupId])

        let offsetDelete = ResultBox<(KafkaErrorCode, [TopicPartitionKey: KafkaErrorCode])>()
        let subscribedPartition = TopicPartitionKey(topic: "t", partition: 0)
        let otherPartition = TopicPartitionKey(topic: "other", partition: 0)
        harness.coordinator.deleteOffsets(groupId: "g", partitions: [subscribedPartition, otherPartition]) { offsetDelete.value = ($0, $1) }
        #expect(offsetDelete.value?.0 == KafkaErrorCode.none)
        #expect(offsetDelete.value?.1[subscribedPartition] == .groupSubscribedToTopic)
        #expect(offsetDelete.value?.1[otherPartition] == KafkaErrorCode.none)
        #expect(harness.coordinator.fetchOffsets(groupId: "g", partitions: nil).map(\.0) == [subscribedPartition])

        _ = harness.coordinator.leaveGroup(groupId: "g", members: [LeavingMember(memberId: a, groupInstanceId: nil),
                                                                   LeavingMember(memberId: b, groupInstanceId: nil)])
        harness.advance(by: 100)
        let deleteEmpty = ResultBox<[(String, KafkaErrorCode)]>()
        harness.coordinator.deleteGroups(["g"]) { deleteEmpty.value = $0 }
        #expect(deleteEmpty.value?.map(\.1) == [KafkaErrorCode.none])
        #expect(harness.coordinator.describeGroup("g").state == .dead)
        #expect(harness.coordinator.fetchOffsets(groupId: "g", partitions: nil).isEmpty)

        // Reloading the store agrees: the deletion was written, not only forgotten.
        let reloaded = try harness.reload()
        #expect(reloaded.coordinator.describeGroup("g").state == .dead)
        #expect(reloaded.coordinator.fetchOffsets(groupId: "g", partitions: nil).isEmpty)
    }

    @Test func aRestartKeepsGroupsGenerationsAssignmentsAndOffsets() throws {
        let harness = try CoordinatorHarness()
        let (a, b) = try harness.stableGroup("g")
        _ = harness.commit("g", generation: 1, memberId: a, offsets: [("t", 0, 7)], metadata: "checkpoint-7")
        _ = harness.commit("g", generation: 1, memberId: b, offsets: [("t", 1, 9)])
        let reloaded = try harness.reload()
        let description = reloaded.coordinator.describeGroup("g")
        #expect(description.state == .stable)
        #expect(description.members.map(\.memberId) == [a, b])
        #expect(description.members.map(\.assignment) == [bytes([1]), bytes([2])])
        #expect(reloaded.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: b, groupInstanceId: nil) == KafkaErrorCode.none,
                "members keep heartbeating in the same generation after a restart")
        let offsets = reloaded.coordinator.fetchOffsets(groupId: "g", partitions: nil)
        #expect(offsets.map { $0.1?.offset } == [7, 9])
        #expect(offsets.first?.1?.metadata == "checkpoint-7")
    }

    /// In a cluster each partition of the group log is loaded on its own: a marker read from
    /// one decides only the transactional offsets written there, and a moved group's undecided
    /// offsets leave with it.
    @Test func aLoadedMarkerDecidesOnlyItsOwnPartitionsTransactionalOffsets() throws {
        let harness = try CoordinatorHarness()
        let coordinator = harness.coordinator
        let a = TopicPartitionKey(topic: "t", partition: 0)
        let offset = { (value: Int64) in CommittedOffset(offset: value, leaderEpoch: -1, metadata: "", commitTimestampMs: 0) }
        // Partition X: producer 7's offsets for group "on-x", its marker not yet written.
        coordinator.loadGroups([.transactional(producerId: 7, .offset(group: "on-x", a, offset(5)))])
        // Partition Y: the same producer's offsets for "on-y" and the COMMIT marker there.
        coordinator.loadGroups([.transactional(producerId: 7, .offset(group: "on-y", a, offset(9))), .marker(producerId: 7, commit: true)])
        #expect(coordinator.fetchOffsets(groupId: "on-y", partitions: [a]).first?.1?.offset == 9)
        #expect(coordinator.fetchOffsets(groupId: "on-x", partitions: [a]).first?.1 == nil, "X's marker has not been read")
        #expect(coordinator.pendingTransactionalPartitions(groupId: "on-x", partitions: nil) == [a])
        coordinator.unloadGroups { $0 == "on-x" }
        #expect(coordinator.pendingTransactionalPartitions(groupId: "on-x", partitions: nil).isEmpty, "gone with the group's partition")
    }

    @Test func protocolSelectionAndConsistency() throws {
        let harness = try CoordinatorHarness()
        let a = harness.join("g", memberId: "", protocols: ["cooperative-sticky", "range"])
        let b = harness.join("g", memberId: "", protocols: ["range", "cooperative-sticky"])
        let c = harness.join("g", memberId: "", protocols: ["cooperative-sticky"])
        let d = harness.join("g", memberId: "", protocols: ["roundrobin"])
        #expect(d.value?.error == .inconsistentGroupProtocol)
        let e = harness.join("g", memberId: "", protocolType: "connect", protocols: ["range"])
        #expect(e.value?.error == .inconsistentGroupProtocol)
        harness.advance(by: 10_000)
        #expect([a, b, c].map { $0.value?.protocolName } == Array(repeating: "cooperative-sticky", count: 3))
        let invalid = harness.join("g2", memberId: "", sessionTimeoutMs: 10)
        #expect(invalid.value?.error == .invalidSessionTimeout)
        #expect(harness.join("", memberId: "").value?.error == .invalidGroupId)
        #expect(harness.join("nope", memberId: "m-1").value?.error == .unknownMemberId)
    }
}

// MARK: - Deadlines

/// Kafka expires sessions, join phases, sync phases and pending member ids with a timer at
/// their deadline, not on a sweep: each is checked here one millisecond before and at it.
@Suite("Group deadlines")
struct GroupDeadlineTests {
    @Test func aSessionExpiresAtItsDeadline() throws {
        let harness = try CoordinatorHarness()
        let (first, second) = try harness.stableGroup("g")
        harness.advance(by: 9_999)
        #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: second, groupInstanceId: nil) == KafkaErrorCode.none)
        #expect(harness.coordinator.describeGroup("g").members.map(\.memberId) == [first, second])
        harness.advance(by: 1)
        #expect(harness.coordinator.describeGroup("g").members.map(\.memberId) == [second], "10,000 ms after its last sync")
        #expect(harness.coordinator.describeGroup("g").state == .preparingRebalance)
    }

    @Test func aStaticMemberExpiresAtItsDeadlineAndTheGroupCanBeDeleted() throws {
        let harness = try CoordinatorHarness()
        let join = harness.join("g", memberId: "", instanceId: "static-1", sessionTimeoutMs: 6_000)
        harness.advance(by: 3_000)
        let memberId = try #require(join.value?.memberId)
        #expect(harness.sync("g", generation: 1, memberId: memberId, instanceId: "static-1",
                             assignments: [memberId: ByteBuffer(bytes: [1])]).value?.error == KafkaErrorCode.none)
        harness.advance(by: 5_999)
        let early = ResultBox<[(String, KafkaErrorCode)]>()
        harness.coordinator.deleteGroups(["g"]) { early.value = $0 }
        #expect(early.value?.first?.1 == .nonEmptyGroup)
        harness.advance(by: 1)
        #expect(harness.coordinator.describeGroup("g").state == .empty)
        let deleted = ResultBox<[(String, KafkaErrorCode)]>()
        harness.coordinator.deleteGroups(["g"]) { deleted.value = $0 }
        #expect(deleted.value?.first?.1 == KafkaErrorCode.none)
    }

    @Test func theJoinPhaseEndsAtTheRebalanceTimeout() throws {
        let harness = try CoordinatorHarness()
        let (first, second) = try harness.stableGroup("g")
        // The first member rejoins; the second keeps heartbeating but never rejoins.
        let rejoin = harness.join("g", memberId: first)
        for _ in 0..<5 {
            harness.advance(by: 5_000)
            #expect(harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: second, groupInstanceId: nil) == .rebalanceInProgress)
        }
        harness.advance(by: 4_999)
        #expect(rejoin.value == nil, "30,000 ms rebalance timeout not yet over")
        harness.advance(by: 1)
        #expect(rejoin.value?.generationId == 2)
        #expect(rejoin.value?.members.map(\.memberId) == [first], "the member that did not rejoin is out")
    }

    @Test func theSyncPhaseEndsAtTheRebalanceTimeout() throws {
        let harness = try CoordinatorHarness()
        let a = harness.join("g", memberId: "")
        let b = harness.join("g", memberId: "")
        harness.advance(by: 6_000)
        let leader = try #require(a.value?.memberId)
        let follower = try #require(b.value?.memberId)
        _ = harness.sync("g", generation: 1, memberId: leader, assignments: [leader: ByteBuffer(bytes: [1])])
        // The follower heartbeats but never sends SyncGroup.
        for _ in 0..<5 {
            harness.advance(by: 5_000)
            _ = harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: follower, groupInstanceId: nil)
            _ = harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: leader, groupInstanceId: nil)
        }
        harness.advance(by: 4_999)
        #expect(harness.coordinator.describeGroup("g").members.count == 2)
        harness.advance(by: 1)
        #expect(harness.coordinator.describeGroup("g").members.map(\.memberId) == [leader])
    }

    @Test func aPendingMemberIdExpiresAtTheSessionTimeout() throws {
        let harness = try CoordinatorHarness()
        let early = try #require(harness.join("g1", memberId: "", requireKnownMemberId: true).value?.memberId)
        let late = try #require(harness.join("g2", memberId: "", requireKnownMemberId: true).value?.memberId)
        harness.advance(by: 9_999)
        let accepted = harness.join("g1", memberId: early, requireKnownMemberId: true)
        #expect(accepted.value == nil, "still pending: the join waits for the rebalance")
        harness.advance(by: 1)
        #expect(harness.join("g2", memberId: late, requireKnownMemberId: true).value?.error == .unknownMemberId)
    }

    @Test func timersAreArmedOnlyForTheEarliestDeadline() throws {
        let harness = try CoordinatorHarness()
        _ = try harness.stableGroup("g")
        for _ in 0..<100 {
            harness.advance(by: 50)
            _ = harness.coordinator.heartbeat(groupId: "g", generationId: 1, memberId: "client-1", groupInstanceId: nil)
        }
        #expect(harness.owner.pendingTimers == 1, "one timer for all deadlines, however many heartbeats")
    }
}

// MARK: - Harness

private func bytes(_ values: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: values) }

final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

/// Runs work at once on the calling thread (the tests are the coordinator's only thread) and
/// keeps one-shot timers on the manual clock: `advance` fires each when the clock reaches its
/// deadline, in deadline order, as the broker's event loop would, so expiry can be checked to
/// the millisecond.
final class ManualOwner: LogOwnerExecutor, @unchecked Sendable {
    // @unchecked: used from the test's thread only.
    let clock: ManualClock
    private var timers: [(id: Int, atMs: Int64, work: @Sendable () -> Void)] = []
    private var nextId = 0

    init(clock: ManualClock) { self.clock = clock }

    func execute(_ work: @escaping @Sendable () -> Void) { work() }
    func scheduleRepeated(everyMs intervalMs: Int64, _ work: @escaping @Sendable () -> Void) -> any LogScheduledTask { NoTask() }

    func schedule(afterMs delayMs: Int64, _ work: @escaping @Sendable () -> Void) -> any LogScheduledTask {
        nextId += 1
        timers.append((nextId, clock.value + max(0, delayMs), work))
        return ManualTask(owner: self, id: nextId)
    }

    var pendingTimers: Int { timers.count }

    /// Moves the clock forward by `ms`, firing every timer that comes due on the way.
    func advance(by ms: Int64) {
        let target = clock.value + ms
        while let next = timers.min(by: { ($0.atMs, $0.id) < ($1.atMs, $1.id) }), next.atMs <= target {
            timers.removeAll { $0.id == next.id }
            if next.atMs > clock.value { clock.advance(by: next.atMs - clock.value) }
            next.work()
        }
        if target > clock.value { clock.advance(by: target - clock.value) }
    }

    fileprivate func cancel(_ id: Int) { timers.removeAll { $0.id == id } }

    struct NoTask: LogScheduledTask { func cancel() {} }
    private struct ManualTask: LogScheduledTask, @unchecked Sendable {
        let owner: ManualOwner
        let id: Int
        func cancel() { owner.cancel(id) }
    }
}

/// Keeps records in memory; completes appends at once unless told to hold them.
final class MemoryGroupStore: GroupStore {
    var records: [GroupRecord] = []
    var holdCompletions = false
    private var held: [(Result<Void, any Error>) -> Void] = []
    func loadRecords() throws -> [GroupLogEntry] { records.map { .record($0) } }

    func appendTransactional(_ records: [GroupRecord], producerId: Int64, producerEpoch: Int16,
                             completion: @escaping (Result<Void, any Error>) -> Void) {
        completion(.failure(GroupLogError(description: "no transactions in this store")))
    }

    func appendMarker(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, offsetsPartition: Int32,
                      completion: @escaping (Result<Void, any Error>) -> Void) {
        completion(.failure(GroupLogError(description: "no transactions in this store")))
    }

    func offsetsPartition(of groupId: String) -> Int32 { 0 }

    func append(_ records: [GroupRecord], completion: @escaping (Result<Void, any Error>) -> Void) {
        if holdCompletions {
            held.append { result in
                if case .success = result { self.records += records }
                completion(result)
            }
            return
        }
        self.records += records
        completion(.success(()))
    }

    func completeAll(with result: Result<Void, any Error>) {
        let pending = held
        held.removeAll()
        pending.forEach { $0(result) }
    }

    func close() throws {}

    func groupSnapshots(_ group: String) -> [GroupSnapshot?] {
        records.compactMap { if case .group(group, let snapshot) = $0 { return .some(snapshot) } else { return nil } }
    }
}

final class ManualClock: Sendable {
    private let now = Atomic<Int64>(1_700_000_000_000)
    var value: Int64 { now.load(ordering: .relaxed) }
    func advance(by ms: Int64) { now.wrappingAdd(ms, ordering: .relaxed) }
}

final class CoordinatorHarness {
    let clock: ManualClock
    let store: MemoryGroupStore
    let config: GroupCoordinatorConfig
    let coordinator: GroupCoordinator
    let owner: ManualOwner
    private var nextMember = 0

    init(config: GroupCoordinatorConfig = GroupCoordinatorConfig(), store: MemoryGroupStore = MemoryGroupStore(),
         clock: ManualClock = ManualClock()) throws {
        self.clock = clock
        self.store = store
        self.config = config
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let counter = ResultBox<Int>()
        counter.value = 0
        let owner = ManualOwner(clock: clock)
        self.owner = owner
        coordinator = try GroupCoordinator(config: config, store: store, owner: owner, clock: { clock.value }, logger: logger,
                                           newMemberId: { clientId in
                                               counter.value! += 1
                                               return "\(clientId)-\(counter.value!)"
                                           })
    }

    /// The same store read by a fresh coordinator, as after a restart.
    func reload() throws -> CoordinatorHarness {
        try CoordinatorHarness(config: config, store: store, clock: clock)
    }

    /// Moves the manual clock, firing the coordinator's timers as they come due.
    func advance(by ms: Int64) {
        owner.advance(by: ms)
    }

    static func subscription(_ topics: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        try! ConsumerProtocolSubscription(topics: topics).write(to: &buffer, version: 0)
        return buffer
    }

    func join(_ group: String, memberId: String, instanceId: String? = nil, protocolType: String = "consumer",
              protocols: [String] = ["range"], topics: [String] = ["t"], sessionTimeoutMs: Int32 = 10_000,
              requireKnownMemberId: Bool = false) -> ResultBox<JoinGroupResult> {
        let box = ResultBox<JoinGroupResult>()
        let input = JoinGroupInput(
            groupId: group, memberId: memberId, groupInstanceId: instanceId, clientId: "client", clientHost: "/127.0.0.1",
            sessionTimeoutMs: sessionTimeoutMs, rebalanceTimeoutMs: 30_000, protocolType: protocolType,
            protocols: protocols.map { GroupProtocol(name: $0, metadata: Self.subscription(topics)) },
            requireKnownMemberId: requireKnownMemberId)
        coordinator.joinGroup(input) { box.value = $0 }
        return box
    }

    func sync(_ group: String, generation: Int32, memberId: String, instanceId: String? = nil,
              assignments: [String: ByteBuffer] = [:]) -> ResultBox<SyncGroupResult> {
        let box = ResultBox<SyncGroupResult>()
        coordinator.syncGroup(SyncGroupInput(groupId: group, generationId: generation, memberId: memberId, groupInstanceId: instanceId,
                                             protocolType: nil, protocolName: nil, assignments: assignments)) { box.value = $0 }
        return box
    }

    func commit(_ group: String, generation: Int32, memberId: String, instanceId: String? = nil,
                offsets: [(String, Int32, Int64)], metadata: String = "") -> ResultBox<[TopicPartitionKey: KafkaErrorCode]> {
        let box = ResultBox<[TopicPartitionKey: KafkaErrorCode]>()
        let entries = offsets.map {
            OffsetCommitEntry(partition: TopicPartitionKey(topic: $0.0, partition: $0.1), offset: $0.2, leaderEpoch: -1, metadata: metadata)
        }
        coordinator.commitOffsets(OffsetCommitInput(groupId: group, generationId: generation, memberId: memberId,
                                                    groupInstanceId: instanceId, retentionTimeMs: -1, entries: entries)) { box.value = $0 }
        return box
    }

    /// Two members through one rebalance and the leader's assignment ([1] and [2]).
    func stableGroup(_ group: String, topics: [String] = ["t"]) throws -> (String, String) {
        let a = join(group, memberId: "", topics: topics)
        let b = join(group, memberId: "", topics: topics)
        advance(by: 6000)
        let first = try #require(a.value?.memberId)
        let second = try #require(b.value?.memberId)
        let generation = try #require(a.value?.generationId)
        _ = sync(group, generation: generation, memberId: second)
        let synced = sync(group, generation: generation, memberId: first, assignments: [first: bytes([1]), second: bytes([2])])
        try #require(synced.value?.error == KafkaErrorCode.none)
        return (first, second)
    }
}
