import KafkaProtocol

/// Where a transactional producer stands, as the Java client's TransactionManager tracks it.
enum TransactionPhase {
    /// `initTransactions` has not succeeded yet.
    case uninitialized
    /// Between transactions.
    case ready
    case inTransaction
    /// `commitTransaction` is flushing or ending the transaction; a call that timed out may be
    /// repeated and picks up where it stopped.
    case committing
    /// `abortTransaction` is dropping, flushing or ending; repeatable like `committing`.
    case aborting
    /// A record or an offset commit of the transaction failed: only `abortTransaction` is allowed.
    case abortableError(KafkaClientError)
    /// Fenced by a newer producer with the same id, or refused: nothing more is possible.
    case fatalError(KafkaClientError)
}

/// The transactional part of the producer's state, kept under the producer's lock beside the
/// queues (an append must see the phase and the batches it joins at once).
struct TransactionProgress {
    var phase: TransactionPhase = .uninitialized
    /// Partitions AddPartitionsToTxn has added to the open transaction.
    var added: Set<TopicPartition> = []
    /// The coordinator knows of the transaction (partitions or offsets were added), so it ends
    /// with EndTxn; one with nothing in it ends on the client alone, as in Java.
    var started = false
    /// The first failure of a record of the open transaction: `commitTransaction` reports it.
    var failure: KafkaClientError?
    /// A batch with a sequence number failed or was dropped, so the broker's idea of the next
    /// sequence is unknown: after the abort the epoch is bumped (KIP-360), which restarts
    /// sequences at 0.
    var sequencesUncertain = false

    /// Codes after which the producer can do nothing more (Java's fatal errors).
    static func isFatal(_ code: KafkaErrorCode?) -> Bool {
        switch code {
        case .producerFenced?, .invalidProducerEpoch?, .transactionalIdAuthorizationFailed?, .invalidTxnState?,
             .unsupportedVersion?, .unsupportedForMessageFormat?:
            return true
        default:
            return false
        }
    }

    /// Why a record cannot be queued now, or nil when it can.
    var refusal: KafkaClientError? {
        switch phase {
        case .inTransaction: return nil
        case .abortableError(let error):
            return KafkaClientError(kind: .invalidState, code: error.code,
                                    message: "the transaction failed and must be aborted: \(error.message)")
        case .fatalError(let error): return error
        case .uninitialized: return KafkaClientError(kind: .invalidState, message: "call initTransactions before sending")
        case .ready: return KafkaClientError(kind: .invalidState, message: "call beginTransaction before sending")
        case .committing, .aborting:
            return KafkaClientError(kind: .invalidState, message: "the transaction is ending; begin the next one first")
        }
    }

    /// Records a failed record: the open transaction can only be aborted now (or nothing more
    /// is possible, for a fatal code).
    mutating func recordFailure(_ error: KafkaClientError, hadSequence: Bool) {
        if hadSequence { sequencesUncertain = true }
        if failure == nil { failure = error }
        switch phase {
        case .inTransaction, .committing:
            phase = Self.isFatal(error.code) ? .fatalError(error) : .abortableError(error)
        case .aborting, .abortableError:
            if Self.isFatal(error.code) { phase = .fatalError(error) }
        case .uninitialized, .ready, .fatalError:
            break
        }
    }

    /// After EndTxn (or a transaction that never reached the coordinator): ready for the next.
    mutating func finishTransaction() {
        phase = .ready
        added = []
        started = false
        failure = nil
    }
}

/// A consumer group's identity as a transactional offset commit carries it, so that the group
/// coordinator refuses commits from a member that has been replaced (KIP-447). From
/// `KafkaConsumer.groupMetadata()`.
public struct ConsumerGroupMetadata: Sendable, Hashable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    public var groupInstanceId: String?

    /// A group's metadata without a member (a consumer that assigns partitions itself): the
    /// coordinator then checks only the producer, as before KIP-447.
    public init(groupId: String, generationId: Int32 = -1, memberId: String = "", groupInstanceId: String? = nil) {
        self.groupId = groupId
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
    }
}
