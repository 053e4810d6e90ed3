import KafkaProtocol
import NIOCore
import SluiceStorage
import Synchronization

/// The group store of a cluster: Kafka's `__consumer_offsets`, a replicated, compacted topic
/// whose partition `hash(group) % partitions` holds a group's metadata and committed offsets
/// (the log cleaner keeps each key's latest record on every replica). The
/// coordinator of a group is the leader of that partition; it loads the partition when it
/// becomes the leader (`readPartition`) and forgets its groups when it stops. A write is done
/// when the partition's high watermark passes it — on min.insync.replicas brokers' disks — as
/// Kafka appends group records with acks=all; a write that cannot get there in
/// `commitTimeoutMs` fails (the client hears COORDINATOR_NOT_AVAILABLE and looks again).
///
/// Called on the coordinator's owner; every log operation hops to its partition's owner and
/// the completion hops back.
public final class OffsetsTopicStore: GroupStore, Sendable {
    public static let topic = "__consumer_offsets"

    private let registry: TopicRegistry
    private let owner: any LogOwnerExecutor
    private let clock: @Sendable () -> Int64
    private let commitTimeoutMs: Int64

    public init(registry: TopicRegistry, owner: any LogOwnerExecutor, clock: @escaping @Sendable () -> Int64, commitTimeoutMs: Int64) {
        self.registry = registry
        self.owner = owner
        self.clock = clock
        self.commitTimeoutMs = commitTimeoutMs
    }

    /// The partition of the offsets topic that holds `groupId` (Kafka's
    /// `Utils.abs(groupId.hashCode) % partitions`, Java's String.hashCode over UTF-16 units).
    public static func partition(for groupId: String, partitions: Int) -> Int32 {
        var hash: Int32 = 0
        for unit in groupId.utf16 { hash = hash &* 31 &+ Int32(unit) }
        return Int32((Int(hash) & 0x7fff_ffff) % max(1, partitions))
    }

    /// Nothing at start: partitions are loaded as this broker comes to lead them.
    public func loadRecords() throws -> [GroupLogEntry] { [] }

    /// The group records of a partition this broker leads, from its log start to its stable end
    /// (what the previous leader wrote is all there: the new leader came from the ISR).
    public static func readPartition(_ partition: Partition) throws -> [GroupLogEntry] {
        precondition(partition.owner.isCurrent, "a log read off its owner")
        guard let log = partition.log else { throw GroupLogError(description: "partition offline: \(partition.offlineReason ?? "")") }
        return try LogGroupStore.readRecords(of: log, limit: .stableEnd)
    }

    public func append(_ records: [GroupRecord], completion: @escaping (Result<Void, any Error>) -> Void) {
        let count = registry.topic(named: Self.topic)?.partitions.count ?? 0
        guard count > 0 else {
            return completion(.failure(GroupLogError(description: "the offsets topic does not exist yet")))
        }
        var byPartition: [Int32: [GroupRecord]] = [:]
        for record in records { byPartition[Self.partition(for: record.groupId, partitions: count), default: []].append(record) }
        guard !byPartition.isEmpty else { return completion(.success(())) }
        let pending = PendingWrites(count: byPartition.count, owner: owner, completion: completion)
        let now = clock()
        for (index, records) in byPartition {
            guard let partition = registry.partition(topic: Self.topic, index: index) else {
                pending.finish(.failure(GroupLogError(description: "no partition \(index) of the offsets topic")))
                continue
            }
            let batches: [ByteBuffer]
            do {
                batches = try LogGroupStore.encode(records, nowMs: now)
            } catch {
                pending.finish(.failure(error))
                continue
            }
            let timeoutMs = commitTimeoutMs
            partition.owner.execute {
                partition.appendReplicated(timeoutMs: timeoutMs, { log, done in LogGroupStore.append(batches, to: log, nowMs: now, completion: done) },
                                           completion: { pending.finish($0) })
            }
        }
    }

    /// A transaction's offset commits for one group, on the group's partition under the
    /// producer's id and epoch (Kafka's transactional append with origin COORDINATOR).
    public func appendTransactional(_ records: [GroupRecord], producerId: Int64, producerEpoch: Int16,
                                    completion: @escaping (Result<Void, any Error>) -> Void) {
        guard let first = records.first else { return completion(.success(())) }
        let now = clock()
        let batch: ByteBuffer
        do {
            var builder = RecordBatchBuilder(producerId: producerId, producerEpoch: producerEpoch, baseSequence: 0, isTransactional: true)
            for record in records {
                let (key, value) = try GroupRecordCodec.encode(record)
                builder.append(key: key, value: value, timestamp: now)
            }
            batch = try builder.build()
        } catch {
            return completion(.failure(error))
        }
        write(toPartitionOf: first.groupId, completion: completion) { log, done in
            try log.append(batch, nowMs: now, fromCoordinator: true) { done($0.map { $0.lastOffset + 1 }.mapError { $0 }) }
        }
    }

    /// The marker of a transaction that committed offsets, on the offsets partition the
    /// transaction added (the one this coordinator leads for those groups).
    public func appendMarker(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, offsetsPartition: Int32,
                             completion: @escaping (Result<Void, any Error>) -> Void) {
        let now = clock()
        write(toPartition: offsetsPartition, completion: completion) { log, done in
            try log.appendTransactionMarker(marker, producerId: producerId, producerEpoch: producerEpoch, nowMs: now) {
                done($0.map { $0.lastOffset + 1 }.mapError { $0 })
            }
        }
    }

    public func offsetsPartition(of groupId: String) -> Int32 {
        Self.partition(for: groupId, partitions: registry.topic(named: Self.topic)?.partitions.count ?? 1)
    }

    public func close() throws {}

    private func write(toPartitionOf groupId: String, completion: @escaping (Result<Void, any Error>) -> Void,
                       _ append: @escaping @Sendable (PartitionLog, @escaping (Result<Int64, any Error>) -> Void) throws -> Void) {
        write(toPartition: offsetsPartition(of: groupId), completion: completion, append)
    }

    /// Appends on one partition's owner, replicated; the completion hops back to the coordinator.
    private func write(toPartition index: Int32, completion: @escaping (Result<Void, any Error>) -> Void,
                       _ append: @escaping @Sendable (PartitionLog, @escaping (Result<Int64, any Error>) -> Void) throws -> Void) {
        let pending = PendingWrites(count: 1, owner: owner, completion: completion)
        guard let partition = registry.partition(topic: Self.topic, index: index) else {
            return pending.finish(.failure(GroupLogError(description: "no partition \(index) of the offsets topic")))
        }
        let timeoutMs = commitTimeoutMs
        partition.owner.execute {
            partition.appendReplicated(timeoutMs: timeoutMs, append, completion: { pending.finish($0) })
        }
    }
}

/// Writes to several partitions of the offsets topic: one answer, on the coordinator's owner,
/// when the last is done (the first failure wins).
private final class PendingWrites: @unchecked Sendable {
    // @unchecked: the counters are behind the lock; the completion runs on `owner`.
    private let state: Mutex<(remaining: Int, failure: (any Error)?)>
    private let owner: any LogOwnerExecutor
    private let completion: (Result<Void, any Error>) -> Void

    init(count: Int, owner: any LogOwnerExecutor, completion: @escaping (Result<Void, any Error>) -> Void) {
        state = Mutex((count, nil))
        self.owner = owner
        self.completion = completion
    }

    func finish(_ result: Result<Void, any Error>) {
        let done = state.withLock { state -> (any Error)?? in
            if case .failure(let error) = result, state.failure == nil { state.failure = error }
            state.remaining -= 1
            return state.remaining == 0 ? .some(state.failure) : .none
        }
        guard case .some(let failure) = done else { return }
        owner.execute { [self] in completion(failure.map { .failure($0) } ?? .success(())) }
    }
}

extension GroupRecord {
    /// The group a record belongs to (its partition of the offsets topic).
    var groupId: String {
        switch self {
        case .offset(let group, _, _): return group
        case .group(let group, _): return group
        }
    }
}
