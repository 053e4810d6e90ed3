/// Where a new partition's replicas go (Kafka's StripedReplicaPlacer in spirit): leaders
/// rotate over the brokers so they spread evenly, and each partition's replicas take as many
/// different racks as there are, before two share one. Deterministic for a given start, so
/// every controller that would place the same topic places it the same way.
public enum ReplicaPlacer {
    public struct Broker: Sendable, Equatable {
        public var id: Int32
        public var rack: String?

        public init(id: Int32, rack: String?) {
            self.id = id
            self.rack = rack
        }
    }

    /// `partitions` lists of `replicationFactor` distinct brokers, the first of each being its
    /// preferred leader. `start` picks where the rotation begins (Kafka picks it at random).
    public static func place(partitions: Int, replicationFactor: Int, brokers: [Broker], start: Int)
        throws(ControllerError) -> [[Int32]] {
        guard replicationFactor >= 1 else {
            throw ControllerError(.invalidReplicationFactor, "Invalid replication factor \(replicationFactor): it must be at least 1.")
        }
        guard !brokers.isEmpty else {
            throw ControllerError(.invalidReplicationFactor, "Unable to replicate the partition \(replicationFactor) time(s): "
                                  + "All brokers are currently fenced.")
        }
        guard replicationFactor <= brokers.count else {
            throw ControllerError(.invalidReplicationFactor, "Unable to replicate the partition \(replicationFactor) time(s): "
                                  + "The target replication factor of \(replicationFactor) cannot be reached because only "
                                  + "\(brokers.count) broker(s) are registered.")
        }
        let ring = rackAlternating(brokers)
        let count = ring.count
        var assignments: [[Int32]] = []
        for partition in 0..<partitions {
            let leaderIndex = (start + partition) % count
            var chosen = [ring[leaderIndex]]
            // Followers: start further along each time round the ring, so the same pairs do not
            // always go together.
            let shift = 1 + (partition / count) % max(1, count - 1)
            var index = (leaderIndex + shift) % count
            var steps = 0
            while chosen.count < replicationFactor, steps < 2 * count {
                let candidate = ring[index]
                let usedRacks = Set(chosen.compactMap(\.rack))
                let racksLeft = Set(ring.compactMap(\.rack)).subtracting(usedRacks)
                let fresh = !chosen.contains(candidate)
                let rackOK = candidate.rack.map { !usedRacks.contains($0) } ?? true || racksLeft.isEmpty || steps >= count
                if fresh && rackOK { chosen.append(candidate) }
                index = (index + 1) % count
                steps += 1
            }
            assignments.append(chosen.map(\.id))
        }
        return assignments
    }

    /// Brokers ordered so that consecutive ones are on different racks where possible: the
    /// first of each rack, then the second of each, and so on (racks and brokers by name and id).
    static func rackAlternating(_ brokers: [Broker]) -> [Broker] {
        let byRack = Dictionary(grouping: brokers.sorted { $0.id < $1.id }) { $0.rack ?? "" }
        let racks = byRack.keys.sorted()
        var ring: [Broker] = []
        var round = 0
        while ring.count < brokers.count {
            for rack in racks where round < byRack[rack]!.count { ring.append(byRack[rack]![round]) }
            round += 1
        }
        return ring
    }
}
