import KafkaProtocol
import NIOCore
import SluiceStorage

/// The transaction store of a cluster: one partition of Kafka's `__transaction_state`, a
/// replicated, compacted topic whose partition `hash(transactionalId) % partitions` holds a
/// transactional id's record. The coordinator of an id is the leader of that partition, one
/// coordinator per partition, with the partition's leader epoch as its coordinator epoch. The
/// partition is read when this broker comes to lead it (`readPartition`, on the partition's
/// owner) and the coordinator starts from those records. A write is done once the high
/// watermark passes it, as Kafka appends transaction records with acks=all; one that cannot get
/// there in `writeTimeoutMs` fails, and the client hears a retriable error.
public final class TransactionStateTopicStore: TransactionStore, @unchecked Sendable {
    // @unchecked: immutable; used on the coordinator's owner, log work on the partition's.
    public static let topic = "__transaction_state"

    public let partition: Partition
    private let records: [(String, TransactionMetadata?)]
    private let owner: any LogOwnerExecutor
    private let clock: @Sendable () -> Int64
    private let writeTimeoutMs: Int64

    /// `records`: what `readPartition` read when this broker came to lead `partition`.
    public init(partition: Partition, records: [(String, TransactionMetadata?)], owner: any LogOwnerExecutor,
                clock: @escaping @Sendable () -> Int64, writeTimeoutMs: Int64) {
        self.partition = partition
        self.records = records
        self.owner = owner
        self.clock = clock
        self.writeTimeoutMs = writeTimeoutMs
    }

    /// The partition of `__transaction_state` that holds `transactionalId` (Kafka's
    /// `Utils.abs(transactionalId.hashCode) % partitions`, as for groups).
    public static func partition(for transactionalId: String, partitions: Int) -> Int32 {
        OffsetsTopicStore.partition(for: transactionalId, partitions: partitions)
    }

    /// A partition's records, all that is written (Kafka loads to the log end): a new leader's
    /// high watermark may still lag what the previous leader had replicated and acknowledged,
    /// and a PrepareCommit the client was told of must not be missed.
    public static func readPartition(_ partition: Partition) throws -> [(String, TransactionMetadata?)] {
        precondition(partition.owner.isCurrent, "a log read off its owner")
        guard let log = partition.log else {
            throw TopicError(code: .kafkaStorageError, message: "partition offline: \(partition.offlineReason ?? "")")
        }
        return try LogTransactionStore.readRecords(of: log, limit: .stableEnd)
    }

    public func loadRecords() throws -> [(String, TransactionMetadata?)] { records }

    public func write(_ transactionalId: String, _ metadata: TransactionMetadata?, completion: @escaping (Result<Void, any Error>) -> Void) {
        let now = clock()
        let batch: ByteBuffer
        do {
            var builder = RecordBatchBuilder()
            builder.append(key: try TransactionMetadata.recordKey(transactionalId), value: try metadata?.recordValue(), timestamp: now)
            batch = try builder.build()
        } catch {
            return completion(.failure(error))
        }
        let (partition, owner, timeoutMs) = (self.partition, self.owner, writeTimeoutMs)
        let completion = OwnerBound(completion)
        partition.owner.execute {
            partition.appendReplicated(timeoutMs: timeoutMs, { log, done in
                try log.append(batch, nowMs: now) { done($0.map { $0.lastOffset + 1 }.mapError { $0 }) }
            }, completion: { result in
                let result = OwnerBound(result)
                owner.execute { completion.value(result.value) }
            })
        }
    }
}
