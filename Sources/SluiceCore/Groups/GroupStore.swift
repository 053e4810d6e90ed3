import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage

/// Where the group coordinator keeps committed offsets and group metadata. Every method is
/// called on the coordinator's executor, and completions run there too.
public protocol GroupStore: AnyObject {
    /// Every entry from the start of the store, oldest first. Called once, before any append.
    func loadRecords() throws -> [GroupLogEntry]
    /// Appends `records`; `completion` runs once they are durable (under the broker's flush
    /// policy) or have failed, in the order appends were made.
    func append(_ records: [GroupRecord], completion: @escaping (Result<Void, any Error>) -> Void)
    /// Appends a transaction's offset commits (TxnOffsetCommit) under its producer id and
    /// epoch; they count once the producer's COMMIT marker follows them.
    func appendTransactional(_ records: [GroupRecord], producerId: Int64, producerEpoch: Int16,
                             completion: @escaping (Result<Void, any Error>) -> Void)
    /// Appends the marker that decides a producer's transactional offset commits on one
    /// partition of the store (a cluster's `__consumer_offsets` has many; a broker of its own
    /// one, 0).
    func appendMarker(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, offsetsPartition: Int32,
                      completion: @escaping (Result<Void, any Error>) -> Void)
    /// The partition of the store that holds a group's records.
    func offsetsPartition(of groupId: String) -> Int32
    /// Flushes and closes the store at shutdown.
    func close() throws
}

/// One entry of the group log as it is read back.
public enum GroupLogEntry: Hashable, Sendable {
    case record(GroupRecord)
    /// A transaction's offset commit: pending until its producer's marker.
    case transactional(producerId: Int64, GroupRecord)
    /// A transaction marker: its producer's pending offset commits count (commit) or go (abort).
    case marker(producerId: Int64, commit: Bool)
}

/// The group store on a partition log of the storage engine (like Kafka's __consumer_offsets,
/// but one partition outside the topic namespace).
///
/// Bounding it: the log is compacted (`cleanup.policy=compact`) and the broker's log cleaner
/// keeps the latest record of each key, as Kafka's cleaner does for __consumer_offsets; a
/// deleted group or offset is a tombstone, gone after `delete.retention.ms`. Start-up reads
/// the cleaned part plus what was written since, not every commit ever made.
public final class LogGroupStore: GroupStore {
    public let log: PartitionLog
    private let clock: @Sendable () -> Int64
    private let logger: Logger
    static let recordsPerBatch = 500
    static let readChunkBytes = 4 << 20

    /// The directory name in the data directory. Partition directories are always `<topic>-<n>`,
    /// so no topic can collide with it.
    public static let directoryName = "__sluice_group_log"
    /// Its name in the cleaner's checkpoint (partition -1: no topic partition has it).
    public static let cleanerName = (topic: directoryName, partition: Int32(-1))

    public init(log: PartitionLog, clock: @escaping @Sendable () -> Int64, logger: Logger) {
        self.log = log
        self.clock = clock
        self.logger = logger
    }

    public func loadRecords() throws -> [GroupLogEntry] {
        try Self.readRecords(of: log, limit: .highWatermark)
    }

    /// Every group log entry in `log` from its start to `limit`; on the log's owner.
    static func readRecords(of log: PartitionLog, limit: PartitionLog.ReadLimit) throws -> [GroupLogEntry] {
        var records: [GroupLogEntry] = []
        try log.forEachBatch(limit: limit, chunkBytes: Self.readChunkBytes) { batch, from in
            let header = batch.header
            if header.attributes.isControl {
                if let marker = try EndTransactionMarker(controlBatch: batch) {
                    records.append(.marker(producerId: header.producerId, commit: marker.kind == .commit))
                }
                return
            }
            try batch.forEachRecord(decompressionLimit: 256 << 20) { record in
                guard header.baseOffset + Int64(record.offsetDelta) >= from, let key = record.key else { return }
                let decoded = try GroupRecordCodec.decode(key: key, value: record.value)
                records.append(header.attributes.isTransactional ? .transactional(producerId: header.producerId, decoded) : .record(decoded))
            }
        }
        return records
    }

    public func append(_ records: [GroupRecord], completion: @escaping (Result<Void, any Error>) -> Void) {
        guard !records.isEmpty else { return completion(.success(())) }
        do {
            let batches = try encode(records)
            appendAll(batches, completion: completion)
        } catch {
            completion(.failure(error))
        }
    }

    public func appendTransactional(_ records: [GroupRecord], producerId: Int64, producerEpoch: Int16,
                                    completion: @escaping (Result<Void, any Error>) -> Void) {
        do {
            var builder = RecordBatchBuilder(producerId: producerId, producerEpoch: producerEpoch, baseSequence: 0, isTransactional: true)
            for record in records {
                let (key, value) = try GroupRecordCodec.encode(record)
                builder.append(key: key, value: value, timestamp: clock())
            }
            try log.append(try builder.build(), nowMs: clock(), fromCoordinator: true) { completion($0.map { _ in () }.mapError { $0 }) }
        } catch {
            completion(.failure(error))
        }
    }

    public func appendMarker(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, offsetsPartition: Int32,
                             completion: @escaping (Result<Void, any Error>) -> Void) {
        do {
            try log.appendTransactionMarker(marker, producerId: producerId, producerEpoch: producerEpoch, nowMs: clock()) {
                completion($0.map { _ in () }.mapError { $0 })
            }
        } catch {
            completion(.failure(error))
        }
    }

    public func offsetsPartition(of groupId: String) -> Int32 { 0 }

    public func close() throws {
        try log.closeCleanly()
    }

    private func encode(_ records: [GroupRecord]) throws -> [ByteBuffer] {
        try Self.encode(records, nowMs: clock())
    }

    /// `records` as batches of at most `recordsPerBatch`, keyed and valued as Kafka's
    /// __consumer_offsets records are.
    static func encode(_ records: [GroupRecord], nowMs now: Int64) throws -> [ByteBuffer] {
        var batches: [ByteBuffer] = []
        var builder = RecordBatchBuilder()
        for record in records {
            let (key, value) = try GroupRecordCodec.encode(record)
            builder.append(key: key, value: value, timestamp: now)
            if builder.count == Self.recordsPerBatch {
                batches.append(try builder.build())
                builder = RecordBatchBuilder()
            }
        }
        if builder.count > 0 { batches.append(try builder.build()) }
        return batches
    }

    /// Appends batches in one go (so nothing interleaves with them); completes after the last.
    private func appendAll(_ batches: [ByteBuffer], completion: @escaping (Result<Void, any Error>) -> Void) {
        Self.append(batches, to: log, nowMs: clock()) { completion($0.map { _ in () }) }
    }

    /// Appends `batches` to `log` (on its owner) and reports once, after the last is written,
    /// with the offset after it, or the first failure.
    static func append(_ batches: [ByteBuffer], to log: PartitionLog, nowMs now: Int64,
                       completion: @escaping (Result<Int64, any Error>) -> Void) {
        var remaining = batches.count
        var failure: (any Error)?
        var end = log.logEndOffset
        guard remaining > 0 else { return completion(.success(end)) }
        for batch in batches {
            do {
                end = try log.append(batch, nowMs: now) { result in
                    if case .failure(let error) = result, failure == nil { failure = error }
                    remaining -= 1
                    if remaining == 0 { completion(failure.map { .failure($0) } ?? .success(end)) }
                }.lastOffset + 1
            } catch {
                // Batches already appended still complete and report; this one never will.
                if failure == nil { failure = error }
                remaining -= 1
                if remaining == 0 { completion(.failure(error)) }
            }
        }
    }
}
