import KafkaProtocol

/// Where the transaction coordinator keeps its transactions (Kafka's `__transaction_state`):
/// one record per transactional id, the latest wins, nil removes it. Called on the
/// coordinator's owner; completions run there too.
public protocol TransactionStore: AnyObject {
    /// Every record from the start of the store, oldest first. Called once, before any write.
    func loadRecords() throws -> [(String, TransactionMetadata?)]
    /// Writes a transaction's new metadata (nil: remove the id); `completion` runs once it is
    /// durable, or has failed.
    func write(_ transactionalId: String, _ metadata: TransactionMetadata?, completion: @escaping (Result<Void, any Error>) -> Void)
}

/// Writes transaction markers for the coordinator (WriteTxnMarkers to each partition's
/// leader), answering with each partition's outcome on the coordinator's owner.
public protocol TransactionMarkerWriter: AnyObject {
    func write(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, partitions: [TopicPartitionKey],
               completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void)
}

/// The transaction coordinator's settings, by Kafka's names.
public struct TransactionCoordinatorConfig: Sendable {
    /// transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for.
    public var maxTimeoutMs: Int32 = 900_000
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms
    public var abortTimedOutIntervalMs: Int64 = 10_000
    /// transactional.id.expiration.ms: an id with no transaction under way and no use for this
    /// long is forgotten (its record becomes a tombstone).
    public var transactionalIdExpirationMs: Int64 = 604_800_000
    /// transaction.remove.expired.transaction.cleanup.interval.ms: how often ids are checked.
    public var removeExpiredIntervalMs: Int64 = 3_600_000
    /// How long a marker write that failed retriably waits before it is sent again.
    public var markerRetryBackoffMs: Int64 = 100

    public init() {}

    public init(broker: BrokerConfig) {
        maxTimeoutMs = Int32(clamping: broker.int("transaction.max.timeout.ms"))
        abortTimedOutIntervalMs = Int64(broker.int("transaction.abort.timed.out.transaction.cleanup.interval.ms"))
        transactionalIdExpirationMs = Int64(broker.int("transactional.id.expiration.ms"))
        removeExpiredIntervalMs = Int64(broker.int("transaction.remove.expired.transaction.cleanup.interval.ms"))
    }
}
