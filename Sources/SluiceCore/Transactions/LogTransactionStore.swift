import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage

/// The transaction log of a single broker: a compacted partition log of the storage engine,
/// `__sluice_transaction_log/` in the data directory (beside the group log, a name no topic's
/// partition directory can take), one record per transactional id in `__transaction_state`'s
/// layout. The log cleaner keeps each id's latest record. Used on the log's owner, which is
/// the coordinator's.
public final class LogTransactionStore: TransactionStore {
    public let log: PartitionLog
    private let clock: @Sendable () -> Int64

    public static let directoryName = "__sluice_transaction_log"
    /// Its name in the cleaner's checkpoint (partition -1: no topic partition has it).
    public static let cleanerName = (topic: directoryName, partition: Int32(-1))

    public init(log: PartitionLog, clock: @escaping @Sendable () -> Int64) {
        self.log = log
        self.clock = clock
    }

    public func loadRecords() throws -> [(String, TransactionMetadata?)] {
        try Self.readRecords(of: log, limit: .highWatermark)
    }

    /// Every transaction record of `log` up to `limit`, oldest first; on its owner.
    static func readRecords(of log: PartitionLog, limit: PartitionLog.ReadLimit) throws -> [(String, TransactionMetadata?)] {
        var records: [(String, TransactionMetadata?)] = []
        try log.forEachBatch(limit: limit) { batch, from in
            try batch.forEachRecord(decompressionLimit: 256 << 20) { record in
                guard batch.header.baseOffset + Int64(record.offsetDelta) >= from, let key = record.key else { return }
                records.append(try TransactionMetadata.decode(key: key, value: record.value))
            }
        }
        return records
    }

    public func write(_ transactionalId: String, _ metadata: TransactionMetadata?, completion: @escaping (Result<Void, any Error>) -> Void) {
        do {
            var builder = RecordBatchBuilder()
            builder.append(key: try TransactionMetadata.recordKey(transactionalId), value: try metadata?.recordValue(), timestamp: clock())
            try log.append(try builder.build(), nowMs: clock()) { result in completion(result.map { _ in () }.mapError { $0 }) }
        } catch {
            completion(.failure(error))
        }
    }
}
