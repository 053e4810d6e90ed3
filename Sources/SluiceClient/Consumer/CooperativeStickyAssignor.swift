/// Kafka's cooperative-sticky assignment (KIP-429): partitions stay with the member that owned
/// them in the previous generation, the rest go to the least-loaded subscribed member, and the
/// result is balanced to within one partition per member among members that could take it.
/// A partition moving between members is left out of this round's assignment: its old owner
/// revokes it and rejoins, and the follow-up rebalance hands it to the new owner, so no partition
/// is ever consumed by two members at once.
enum CooperativeStickyAssignor {

    struct Member: Sendable {
        var id: String
        var topics: Set<String>
        var owned: [TopicPartition]
        /// The generation the member's `owned` list is from; -1 when it does not say (v0/v1).
        var generation: Int32
    }

    static func assign(members: [Member], partitionCounts: [String: Int32]) -> [String: [TopicPartition]] {
        let sorted = members.sorted { $0.id < $1.id }
        var all: [TopicPartition] = []
        for topic in Set(sorted.flatMap(\.topics)).sorted() {
            guard let count = partitionCounts[topic], count > 0 else { continue }
            all += (0..<count).map { TopicPartition(topic, $0) }
        }
        let existing = Set(all)
        var eligible: [TopicPartition: [String]] = [:]
        for partition in all { eligible[partition] = sorted.filter { $0.topics.contains(partition.topic) }.map(\.id) }

        // Keep what each member owned, where it still can: the newest generation wins a claim
        // two members make; two claims from the same generation leave the partition unowned.
        var claims: [TopicPartition: (member: String, generation: Int32, contested: Bool)] = [:]
        for member in sorted {
            for partition in member.owned where existing.contains(partition) && member.topics.contains(partition.topic) {
                if let claim = claims[partition] {
                    if member.generation > claim.generation {
                        claims[partition] = (member.id, member.generation, false)
                    } else if member.generation == claim.generation {
                        claims[partition]?.contested = true
                    }
                } else {
                    claims[partition] = (member.id, member.generation, false)
                }
            }
        }
        var assignment: [String: Set<TopicPartition>] = Dictionary(uniqueKeysWithValues: sorted.map { ($0.id, []) })
        for (partition, claim) in claims where !claim.contested { assignment[claim.member]?.insert(partition) }
        let kept = assignment

        func leastLoaded(_ candidates: [String]) -> String? {
            candidates.min { (assignment[$0]?.count ?? 0, $0) < (assignment[$1]?.count ?? 0, $1) }
        }
        for partition in all where claims[partition].map({ $0.contested }) ?? true {
            if let member = leastLoaded(eligible[partition] ?? []) { assignment[member]?.insert(partition) }
        }

        // Balance: move a partition from a member to an eligible one holding at least two fewer,
        // preferring partitions the giver did not own before, until no such move exists.
        var moves = 0
        let limit = all.count * max(1, sorted.count)
        while moves < limit {
            var moved = false
            let byLoad = sorted.map(\.id).sorted { (assignment[$0]?.count ?? 0, $0) > (assignment[$1]?.count ?? 0, $1) }
            search: for giver in byLoad {
                let load = assignment[giver]?.count ?? 0
                let candidates = (assignment[giver] ?? []).sorted { lhs, rhs in
                    let lhsKept = kept[giver]?.contains(lhs) ?? false, rhsKept = kept[giver]?.contains(rhs) ?? false
                    return lhsKept != rhsKept ? !lhsKept : lhs > rhs
                }
                for partition in candidates {
                    let takers = (eligible[partition] ?? []).filter { (assignment[$0]?.count ?? 0) < load - 1 }
                    if let taker = leastLoaded(takers) {
                        assignment[giver]?.remove(partition)
                        assignment[taker]?.insert(partition)
                        moved = true
                        break search
                    }
                }
            }
            if !moved { break }
            moves += 1
        }

        // Cooperative step: nobody gets a partition another member still reports owning.
        var reportedOwners: [TopicPartition: Set<String>] = [:]
        for member in sorted { for partition in member.owned { reportedOwners[partition, default: []].insert(member.id) } }
        var result: [String: [TopicPartition]] = [:]
        for (member, partitions) in assignment {
            result[member] = partitions.filter { partition in
                (reportedOwners[partition] ?? []).subtracting([member]).isEmpty
            }.sorted()
        }
        return result
    }
}
