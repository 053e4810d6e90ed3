/// What a voter must remember across restarts so that it never votes twice in one epoch or
/// goes back to an older one (Kafka's `quorum-state` file, QuorumStateData): written and
/// synced before any answer that depends on it leaves the node.
public struct ElectionState: Sendable, Equatable, CustomStringConvertible {
    public var epoch: Int32
    public var leaderId: Int32?
    public var votedId: Int32?

    public init(epoch: Int32, leaderId: Int32? = nil, votedId: Int32? = nil) {
        self.epoch = epoch
        self.leaderId = leaderId
        self.votedId = votedId
    }

    public var description: String {
        "epoch \(epoch), leader \(leaderId.map(String.init) ?? "none"), voted \(votedId.map(String.init) ?? "none")"
    }
}

/// Durable storage for `ElectionState`. `write` returns only once the state is on disk.
public protocol QuorumStateStore: AnyObject {
    func read() throws -> ElectionState?
    func write(_ state: ElectionState) throws
}

/// The role a replica plays in its current epoch, as DescribeQuorum and the logs name it.
public enum RaftRole: String, Sendable {
    case unattached, candidate, leader, follower
}
