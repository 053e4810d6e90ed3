/// Where a transactional id's transaction is, with Kafka's ids (the `TransactionStatus` of a
/// `__transaction_state` record) and names (DescribeTransactions, ListTransactions).
public enum TransactionState: Int8, Sendable, CaseIterable {
    /// Initialized (InitProducerId), no transaction open.
    case empty = 0
    /// Partitions added: a transaction is open.
    case ongoing = 1
    /// EndTxn(commit) recorded; markers being written.
    case prepareCommit = 2
    /// EndTxn(abort), a timeout or a fence recorded; markers being written.
    case prepareAbort = 3
    case completeCommit = 4
    case completeAbort = 5
    /// Expired (transactional.id.expiration.ms): about to be removed.
    case dead = 6
    /// A new InitProducerId, or a timeout, is fencing the producer of an open transaction:
    /// the transaction is aborted under a bumped epoch.
    case prepareEpochFence = 7

    public var name: String {
        switch self {
        case .empty: "Empty"
        case .ongoing: "Ongoing"
        case .prepareCommit: "PrepareCommit"
        case .prepareAbort: "PrepareAbort"
        case .completeCommit: "CompleteCommit"
        case .completeAbort: "CompleteAbort"
        case .dead: "Dead"
        case .prepareEpochFence: "PrepareEpochFence"
        }
    }

    /// The states a transaction may come from (Kafka's TransactionState.validPreviousStates).
    var validPrevious: Set<TransactionState> {
        switch self {
        case .empty: [.empty, .completeCommit, .completeAbort]
        case .ongoing: [.ongoing, .empty, .completeCommit, .completeAbort]
        case .prepareCommit: [.ongoing]
        case .prepareAbort: [.ongoing, .prepareEpochFence]
        case .completeCommit: [.prepareCommit]
        case .completeAbort: [.prepareAbort]
        case .dead: [.empty, .completeAbort, .completeCommit]
        case .prepareEpochFence: [.ongoing]
        }
    }

    /// Markers are being written: the transaction's outcome is decided but not yet everywhere.
    var isPreparing: Bool { self == .prepareCommit || self == .prepareAbort }
    var isComplete: Bool { self == .completeCommit || self == .completeAbort }
}
