/// Election state in memory (for the simulator and tests). `forgetsVotes` models a store that
/// loses the vote, to show why it must not.
public final class MemoryQuorumStateStore: QuorumStateStore {
    public init() {}

    public var state: ElectionState?
    public private(set) var writes = 0
    public var forgetsVotes = false

    public func read() throws -> ElectionState? { state }

    public func write(_ newState: ElectionState) throws {
        state = newState
        if forgetsVotes { state?.votedId = nil }
        writes += 1
    }
}
