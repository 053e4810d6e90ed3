import Synchronization

/// What the transaction coordinator did, for /metrics (Kafka's transaction coordinator
/// metrics): read from any thread, written on the coordinator's owner.
public final class TransactionStatistics: Sendable {
    private let open = Atomic<Int>(0)
    private let commits = Atomic<Int>(0)
    private let aborts = Atomic<Int>(0)
    private let timedOut = Atomic<Int>(0)
    private let fenced = Atomic<Int>(0)

    public init() {}

    /// Transactions open now (Ongoing).
    public var openTransactions: Int { open.load(ordering: .relaxed) }
    /// Transactions completed with a commit, and with an abort (whoever decided it).
    public var committed: Int { commits.load(ordering: .relaxed) }
    public var aborted: Int { aborts.load(ordering: .relaxed) }
    /// Aborts the coordinator decided: past the timeout, and for a new producer of the id.
    public var abortedByTimeout: Int { timedOut.load(ordering: .relaxed) }
    public var abortedByFencing: Int { fenced.load(ordering: .relaxed) }

    func transition(from old: TransactionState?, to new: TransactionState) {
        if old != .ongoing && new == .ongoing { open.wrappingAdd(1, ordering: .relaxed) }
        if old == .ongoing && new != .ongoing { open.wrappingSubtract(1, ordering: .relaxed) }
        if old != .completeCommit && new == .completeCommit { commits.wrappingAdd(1, ordering: .relaxed) }
        if old != .completeAbort && new == .completeAbort { aborts.wrappingAdd(1, ordering: .relaxed) }
    }

    /// A coordinator let go of a transaction in `state` (it stopped, or its partition moved).
    func forget(_ state: TransactionState) {
        if state == .ongoing { open.wrappingSubtract(1, ordering: .relaxed) }
    }

    func recordTimeout() { timedOut.wrappingAdd(1, ordering: .relaxed) }
    func recordFencing() { fenced.wrappingAdd(1, ordering: .relaxed) }
}
