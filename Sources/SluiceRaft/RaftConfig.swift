/// The quorum's settings, by Kafka's names where Kafka has them (QuorumConfig).
public struct RaftConfig: Sendable {
    public var nodeId: Int32
    /// `controller.quorum.voters`' ids. A node outside it is an observer: it replicates the log
    /// but never votes or stands.
    public var voters: Set<Int32>
    /// `controller.quorum.election.timeout.ms`: how long an unattached voter waits before it
    /// stands; randomised up to twice this.
    public var electionTimeoutMs: Int64 = 1000
    /// `controller.quorum.fetch.timeout.ms`: a follower that has not fetched from its leader for
    /// this long stands for election; a leader that has not heard from a majority for 1.5 times
    /// this resigns (check quorum).
    public var fetchTimeoutMs: Int64 = 2000
    /// `controller.quorum.election.backoff.max.ms`: the most a lost candidate waits to stand again.
    public var electionBackoffMaxMs: Int64 = 1000
    /// `controller.quorum.append.linger.ms`: how long a leader gathers appends before it flushes.
    public var appendLingerMs: Int64 = 25
    /// `controller.quorum.request.timeout.ms`.
    public var requestTimeoutMs: Int64 = 2000
    /// How long a leader parks a fetch that finds nothing new.
    public var fetchMaxWaitMs: Int64 = 500
    public var maxFetchRecords: Int = 1024
    public var snapshotChunkBytes: Int = 64 * 1024

    public init(nodeId: Int32, voters: Set<Int32>) {
        self.nodeId = nodeId
        self.voters = voters
    }

    public var isVoter: Bool { voters.contains(nodeId) }
    public var majority: Int { voters.count / 2 + 1 }
}
