import KafkaProtocol

/// Why the log could not do what was asked. `kafkaCode` is the Kafka error a client hears:
/// `diskFull` and `io` to KAFKA_STORAGE_ERROR (56, retriable), `offsetOutOfRange` to
/// OFFSET_OUT_OF_RANGE (1), `corrupt` and `offline` to KAFKA_STORAGE_ERROR with the partition
/// taken offline.
public enum StorageError: Error, Hashable, Sendable {
    /// A write failed with ENOSPC or EDQUOT; nothing of it is visible and the log is consistent.
    case diskFull(path: String)
    /// Any other I/O failure, with the errno and the call that failed.
    case io(errno: Int32, operation: String, path: String)
    /// The requested offset is below the log start offset or above the log end offset.
    case offsetOutOfRange(requested: Int64, logStartOffset: Int64, logEndOffset: Int64)
    /// A segment file holds bytes that are not a valid batch where one must be (not a torn tail).
    case corrupt(path: String, reason: String)
    /// The partition was taken offline after corruption was found; it serves nothing.
    case offline(reason: String)
    /// Another process holds the data directory's lock.
    case directoryLocked(path: String)
    /// The writer was shut down before the request was carried out.
    case shutDown
    /// The record batch bytes handed to append are not a whole, valid batch.
    case invalidBatch(String)
    /// An idempotent producer skipped sequence numbers (OUT_OF_ORDER_SEQUENCE_NUMBER).
    case outOfOrderSequence(producerId: Int64, expected: Int32, received: Int32)
    /// An idempotent producer wrote with an epoch older than its current one (INVALID_PRODUCER_EPOCH).
    case invalidProducerEpoch(producerId: Int64, current: Int16, received: Int16)
    /// A non-transactional batch from a producer whose transaction is open (INVALID_TXN_STATE).
    case invalidTxnState(producerId: Int64)
    /// A transaction marker from an older coordinator than the last one (TRANSACTION_COORDINATOR_FENCED).
    case transactionCoordinatorFenced(producerId: Int64, current: Int32, received: Int32)
}

extension StorageError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .diskFull(let path): "disk full writing \(path)"
        case .io(let errno, let operation, let path): "\(operation) failed on \(path): errno \(errno)"
        case .offsetOutOfRange(let requested, let start, let end): "offset \(requested) is outside the log [\(start), \(end)]"
        case .corrupt(let path, let reason): "corrupt segment \(path): \(reason)"
        case .offline(let reason): "partition offline: \(reason)"
        case .directoryLocked(let path): "another broker is using the data directory \(path) (its .lock is held)"
        case .shutDown: "the log writer has shut down"
        case .invalidBatch(let reason): "invalid record batch: \(reason)"
        case .outOfOrderSequence(let id, let expected, let received):
            "producer \(id): sequence \(received) where \(expected) was expected"
        case .invalidProducerEpoch(let id, let current, let received):
            "producer \(id): epoch \(received) is older than its current epoch \(current)"
        case .invalidTxnState(let id):
            "producer \(id): a non-transactional write while its transaction is open"
        case .transactionCoordinatorFenced(let id, let current, let received):
            "producer \(id): a marker from coordinator epoch \(received), older than \(current)"
        }
    }
}

extension StorageError {
    /// The Kafka error a client hears for it.
    public var kafkaCode: KafkaErrorCode {
        switch self {
        case .diskFull, .io, .offline, .corrupt, .directoryLocked, .shutDown: .kafkaStorageError
        case .offsetOutOfRange: .offsetOutOfRange
        case .invalidBatch: .corruptMessage
        case .outOfOrderSequence: .outOfOrderSequenceNumber
        case .invalidProducerEpoch: .invalidProducerEpoch
        case .invalidTxnState: .invalidTxnState
        case .transactionCoordinatorFenced: .transactionCoordinatorFenced
        }
    }
}
