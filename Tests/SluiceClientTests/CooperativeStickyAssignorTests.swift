@testable import SluiceClient
import Testing

@Suite("cooperative-sticky assignment")
struct CooperativeStickyAssignorTests {
    typealias Member = CooperativeStickyAssignor.Member

    private func partitions(_ topic: String, _ range: Range<Int32>) -> [TopicPartition] { range.map { TopicPartition(topic, $0) } }

    @Test func freshMembersShareEvenly() {
        let members = ["a", "b", "c"].map { Member(id: $0, topics: ["t"], owned: [], generation: -1) }
        let result = CooperativeStickyAssignor.assign(members: members, partitionCounts: ["t": 7])
        #expect(result.values.map(\.count).sorted() == [2, 2, 3])
        #expect(Set(result.values.flatMap { $0 }) == Set(partitions("t", 0..<7)))
    }

    @Test func aJoiningMemberGetsPartitionsOnlyAfterTheOwnerGivesThemUp() {
        let first = CooperativeStickyAssignor.assign(
            members: [Member(id: "a", topics: ["t"], owned: partitions("t", 0..<6), generation: 3),
                      Member(id: "b", topics: ["t"], owned: [], generation: -1)],
            partitionCounts: ["t": 6])
        #expect(first["a"]?.count == 3, "a keeps half")
        #expect(first["b"] == [], "b waits until a has revoked the other half")
        let second = CooperativeStickyAssignor.assign(
            members: [Member(id: "a", topics: ["t"], owned: first["a"] ?? [], generation: 4),
                      Member(id: "b", topics: ["t"], owned: [], generation: 4)],
            partitionCounts: ["t": 6])
        #expect(second["a"] == first["a"], "nothing more moves away from a")
        #expect(Set(second["b"] ?? []) == Set(partitions("t", 0..<6)).subtracting(first["a"] ?? []))
    }

    @Test func theNewestGenerationWinsAClaimAndEqualClaimsAreDropped() {
        let result = CooperativeStickyAssignor.assign(
            members: [Member(id: "a", topics: ["t"], owned: [TopicPartition("t", 0)], generation: 5),
                      Member(id: "b", topics: ["t"], owned: [TopicPartition("t", 0)], generation: 4)],
            partitionCounts: ["t": 2])
        #expect(result["a"] == [], "a still owns t-0 by the newer generation, but b reports it too, so nobody gets it this round")
        #expect(result["b"] == [TopicPartition("t", 1)])
    }

    @Test func partitionsGoOnlyToSubscribedMembers() {
        let members = [Member(id: "a", topics: ["x", "y"], owned: [], generation: -1),
                       Member(id: "b", topics: ["x"], owned: [], generation: -1)]
        let result = CooperativeStickyAssignor.assign(members: members, partitionCounts: ["x": 2, "y": 4])
        #expect(Set(result["a"] ?? []).isSuperset(of: partitions("y", 0..<4)))
        #expect((result["b"] ?? []).allSatisfy { $0.topic == "x" })
        #expect(result["b"]?.count == 2, "b takes all of x, since a already has y")
    }

    /// Random memberships, run round after round as members would (each round's assignment
    /// becomes what they own): never two owners, every partition owned once it settles, balanced
    /// within one, and a member that stays loses only what balance requires.
    @Test(arguments: 0..<40)
    func roundsConvergeWithoutDoubleOwnership(seed: Int) {
        var random = SplitMix(seed: UInt64(seed))
        let count = Int32(1 + random.next() % 24)
        var owned: [String: [TopicPartition]] = [:]
        var generation: Int32 = 0
        for _ in 0..<6 {
            // Churn: some members leave, some join.
            for member in owned.keys where random.next() % 4 == 0 { owned[member] = nil }
            for index in 0..<Int(random.next() % 3) { owned["m\(random.next() % 1000)-\(index)", default: []] += [] }
            if owned.isEmpty { owned["solo"] = [] }
            let before = owned
            var rounds = 0
            while true {
                generation += 1
                rounds += 1
                let members = owned.map { Member(id: $0.key, topics: ["t"], owned: $0.value, generation: generation - 1) }
                let result = CooperativeStickyAssignor.assign(members: members, partitionCounts: ["t": count])
                let all = result.values.flatMap { $0 }
                #expect(all.count == Set(all).count, "no partition has two owners")
                for (member, partitions) in result {
                    let others = owned.filter { $0.key != member }.values.flatMap { $0 }
                    #expect(Set(partitions).isDisjoint(with: others), "nobody is handed a partition another member still holds")
                }
                let changed = result.contains { Set($0.value) != Set(owned[$0.key] ?? []) }
                owned = result
                if !changed || rounds > 3 { break }
            }
            #expect(rounds <= 3, "settles within two rebalances after a change")
            let loads = owned.values.map(\.count)
            #expect(loads.reduce(0, +) == Int(count), "every partition owned")
            #expect((loads.max() ?? 0) - (loads.min() ?? 0) <= 1, "balanced within one")
            // Stickiness: a member that stayed keeps min(what it had, its new load) of its partitions.
            for (member, partitions) in owned {
                guard let previous = before[member] else { continue }
                let retained = Set(partitions).intersection(previous).count
                #expect(retained == min(previous.count, partitions.count), "\(member) lost more than balance required")
            }
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
