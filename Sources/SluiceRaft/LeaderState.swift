/// What a leader tracks for its epoch (Kafka's LeaderState): every voter's log end as its
/// fetches report it, the high watermark those give, which voters have yet to hear of the new
/// epoch, fetches parked until there is something to answer, and whether a majority is still
/// fetching (check quorum).
struct LeaderState {
    struct ParkedFetch {
        var request: RaftMessage.FetchRequest
        var deadline: Int64
    }

    struct ReplicaProgress {
        var endOffset: Int64?
        var lastFetchAt: Int64?
        var lastCaughtUpAt: Int64?
    }

    let epoch: Int32
    let localId: Int32
    let voters: Set<Int32>
    /// The offset of the leader's own first record (its LeaderChangeMessage). Nothing is exposed
    /// as committed until a majority holds it: the records of earlier epochs below it are
    /// committed only with it (Raft §5.4.2).
    let epochStartOffset: Int64
    private(set) var highWatermark: Int64?
    var progress: [Int32: ReplicaProgress] = [:]
    var unacknowledgedVoters: Set<Int32>
    var nextBeginQuorumAt: Int64
    var parked: [Int32: ParkedFetch] = [:]
    var flushDeadline: Int64?
    /// Voters heard from since a majority last was. When `checkQuorumDeadline` passes before a
    /// majority has fetched again, the leader has lost its quorum (Kafka's check quorum).
    var fetchedSinceCheck: Set<Int32> = []
    var checkQuorumDeadline: Int64
    let checkQuorumTimeoutMs: Int64

    init(epoch: Int32, localId: Int32, voters: Set<Int32>, epochStartOffset: Int64, now: Int64, checkQuorumTimeoutMs: Int64) {
        self.epoch = epoch
        self.localId = localId
        self.voters = voters
        self.epochStartOffset = epochStartOffset
        unacknowledgedVoters = voters.subtracting([localId])
        nextBeginQuorumAt = now
        checkQuorumDeadline = now + checkQuorumTimeoutMs
        self.checkQuorumTimeoutMs = checkQuorumTimeoutMs
        for voter in voters { progress[voter] = ReplicaProgress() }
    }

    var majority: Int { voters.count / 2 + 1 }

    /// Records a replica's fetch offset (or the leader's own flushed end). Returns whether the
    /// high watermark moved.
    mutating func updateEndOffset(of replica: Int32, to endOffset: Int64, now: Int64, leaderEnd: Int64) -> Bool {
        var state = progress[replica] ?? ReplicaProgress()
        state.endOffset = endOffset
        if replica != localId {
            state.lastFetchAt = now
            if endOffset >= leaderEnd { state.lastCaughtUpAt = now }
            if voters.contains(replica) {
                fetchedSinceCheck.insert(replica)
                if fetchedSinceCheck.count + 1 >= majority {
                    fetchedSinceCheck = []
                    checkQuorumDeadline = now + checkQuorumTimeoutMs
                }
            }
        }
        progress[replica] = state
        guard voters.contains(replica) else { return false }
        return updateHighWatermark()
    }

    /// The largest offset a majority of voters hold, once that includes this epoch's first record;
    /// never moves back.
    private mutating func updateHighWatermark() -> Bool {
        let ends = voters.map { progress[$0]?.endOffset ?? -1 }.sorted(by: >)
        let candidate = ends[majority - 1]
        guard candidate > epochStartOffset else { return false }
        if let current = highWatermark, candidate <= current { return false }
        highWatermark = candidate
        return true
    }

    /// Voters in the order a resigning leader proposes them: the most caught up first.
    var preferredSuccessors: [Int32] {
        voters.subtracting([localId]).sorted {
            let a = progress[$0]?.endOffset ?? -1, b = progress[$1]?.endOffset ?? -1
            return a != b ? a > b : $0 < $1
        }
    }
}
