import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage
import Testing

@testable import SluiceCore

/// The transaction coordinator's state machine against Kafka's rules (KIP-98, EndTxn before
/// KIP-890 part 2), driven with a manual clock and owner, an in-memory transaction log and a
/// marker writer that records what it is asked: every answer a client can get, the records
/// written, the markers sent, fencing, timeouts, retries and recovery.
@Suite("Transaction coordinator")
struct TransactionCoordinatorTests {
    static let t0 = TopicPartitionKey(topic: "t", partition: 0)
    static let t1 = TopicPartitionKey(topic: "t", partition: 1)

    @Test func aCommitRecordsEachStepAndWritesTheMarkers() throws {
        let h = try TransactionHarness()
        let (producerId, epoch) = try h.initProducerId("tx").get()
        #expect(producerId == 1_000 && epoch == 0)
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t0, Self.t1]) == KafkaErrorCode.none)
        #expect(h.coordinator.transactions["tx"]?.state == .ongoing)
        #expect(h.coordinator.transactions["tx"]?.startTimestampMs == h.clock.value)
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t0]) == KafkaErrorCode.none, "already in: no write")
        #expect(h.store.written.count == 2)
        #expect(h.endTransaction("tx", producerId, epoch, commit: true) == KafkaErrorCode.none)
        #expect(h.markers.calls.map(\.kind) == [.commit])
        #expect(h.markers.calls.first.map { ($0.producerId, $0.producerEpoch, $0.coordinatorEpoch, $0.partitions) }
            .map { $0 == (1_000, 0, 5, [Self.t0, Self.t1]) } == true)
        #expect(h.store.states("tx") == [.empty, .ongoing, .prepareCommit, .completeCommit])
        #expect(h.coordinator.transactions["tx"]?.partitions.isEmpty == true)
        // A retry of the commit gets its answer again; an abort of it is refused.
        #expect(h.endTransaction("tx", producerId, epoch, commit: true) == KafkaErrorCode.none)
        #expect(h.endTransaction("tx", producerId, epoch, commit: false) == .invalidTxnState)
        // The next transaction starts from CompleteCommit.
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t1]) == KafkaErrorCode.none)
        #expect(h.coordinator.transactions["tx"]?.partitions == [Self.t1])
        let statistics = h.coordinator.statistics
        #expect((statistics.openTransactions, statistics.committed, statistics.aborted) == (1, 1, 0))
    }

    @Test func requestsGetKafkasErrors() throws {
        let h = try TransactionHarness()
        #expect(h.initProducerId("tx", timeoutMs: 0) == .failure(.invalidTransactionTimeout))
        #expect(h.initProducerId("tx", timeoutMs: 900_001) == .failure(.invalidTransactionTimeout))
        #expect(h.addPartitions("unknown", 1, 0, [Self.t0]) == .invalidProducerIdMapping)
        #expect(h.initProducerId("") == .failure(.invalidRequest), "an empty transactional id, as Kafka answers it")
        #expect(h.addPartitions("", 1, 0, [Self.t0]) == .invalidRequest)
        #expect(h.endTransaction("", 1, 0, commit: true) == .invalidRequest)
        let (producerId, epoch) = try h.initProducerId("tx").get()
        #expect(h.addPartitions("tx", producerId + 1, epoch, [Self.t0]) == .invalidProducerIdMapping)
        #expect(h.addPartitions("tx", producerId, epoch + 1, [Self.t0]) == .producerFenced)
        #expect(h.endTransaction("tx", producerId, epoch, commit: true) == .invalidTxnState, "nothing open")
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t0]) == KafkaErrorCode.none)
        // While the markers are being written, the transaction is busy.
        h.markers.hold = true
        #expect(h.endTransaction("tx", producerId, epoch, commit: false) == KafkaErrorCode.none)
        #expect(h.endTransaction("tx", producerId, epoch, commit: false) == .concurrentTransactions)
        #expect(h.endTransaction("tx", producerId, epoch, commit: true) == .invalidTxnState)
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t1]) == .concurrentTransactions)
        #expect(h.initProducerId("tx") == .failure(.concurrentTransactions))
        h.markers.release()
        #expect(h.coordinator.transactions["tx"]?.state == .completeAbort)
        // A failed log write: NOT_COORDINATOR, and nothing changed.
        h.store.failWrites = true
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t0]) == .notCoordinator)
        #expect(h.coordinator.transactions["tx"]?.state == .completeAbort)
    }

    /// A second producer of the id (InitProducerId) while a transaction is open: the open one
    /// is aborted under the next epoch (the caller hears CONCURRENT_TRANSACTIONS and retries),
    /// then the retry gets the epoch after that; the old producer is fenced.
    @Test func anInitProducerIdFencesTheOpenTransactionsProducer() throws {
        let h = try TransactionHarness()
        let (producerId, epoch) = try h.initProducerId("tx").get()
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t0]) == KafkaErrorCode.none)
        #expect(h.initProducerId("tx") == .failure(.concurrentTransactions))
        #expect(h.markers.calls.map(\.kind) == [.abort])
        #expect(h.markers.calls.first?.producerEpoch == 1, "the abort carries the fencing epoch")
        #expect(h.store.states("tx") == [.empty, .ongoing, .prepareAbort, .completeAbort])
        let second = try h.initProducerId("tx").get()
        #expect(second.0 == producerId && second.1 == 2)
        #expect(h.endTransaction("tx", producerId, epoch, commit: true) == .producerFenced)
        #expect(h.addPartitions("tx", producerId, 1, [Self.t0]) == .producerFenced)
        let statistics = h.coordinator.statistics
        #expect((statistics.openTransactions, statistics.aborted, statistics.abortedByFencing, statistics.abortedByTimeout) == (0, 1, 1, 0))
    }

    @Test func aTransactionPastItsTimeoutIsAbortedAndItsProducerFenced() throws {
        let h = try TransactionHarness()
        let (producerId, epoch) = try h.initProducerId("tx", timeoutMs: 60_000).get()
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t0]) == KafkaErrorCode.none)
        h.owner.advance(by: 30_000)
        h.coordinator.abortTimedOut()
        #expect(h.markers.calls.isEmpty, "within its timeout")
        h.owner.advance(by: 30_001)
        h.coordinator.abortTimedOut()
        #expect(h.markers.calls.map(\.kind) == [.abort] && h.markers.calls.first?.producerEpoch == 1)
        #expect(h.coordinator.transactions["tx"]?.state == .completeAbort)
        #expect(h.endTransaction("tx", producerId, epoch, commit: true) == .producerFenced)
        #expect((h.coordinator.statistics.abortedByTimeout, h.coordinator.statistics.openTransactions) == (1, 0))
    }

    /// transactional.id.expiration.ms: an id idle that long with nothing under way is
    /// tombstoned and forgotten; one with an open transaction is kept however old; a producer
    /// coming back with an expired id gets a new producer id.
    @Test func idleTransactionalIdsExpire() throws {
        let h = try TransactionHarness()
        let week: Int64 = 604_800_000
        let (idle, _) = try h.initProducerId("idle").get()
        let (busyId, busyEpoch) = try h.initProducerId("busy", timeoutMs: 900_000).get()
        #expect(h.addPartitions("busy", busyId, busyEpoch, [Self.t0]) == KafkaErrorCode.none)
        h.owner.advance(by: week - 1)
        h.coordinator.expireTransactionalIds()
        #expect(h.coordinator.transactions["idle"] != nil, "not yet")
        h.owner.advance(by: 1)
        h.coordinator.expireTransactionalIds()
        #expect(h.coordinator.transactions["idle"] == nil)
        #expect(h.store.written.last.map { $0.0 == "idle" && $0.1 == nil } == true, "a tombstone in the log")
        #expect(h.coordinator.transactions["busy"]?.state == .ongoing, "an open transaction keeps its id")
        let (again, epoch) = try h.initProducerId("idle").get()
        #expect(again != idle && epoch == 0, "a new producer id for an expired id")
    }

    /// A partition whose leader moved answers NOT_LEADER_OR_FOLLOWER: only it is sent again
    /// after the backoff; the transaction completes once every partition has its marker.
    @Test func markersThatFailRetriablyAreSentAgainAlone() throws {
        let h = try TransactionHarness()
        let (producerId, epoch) = try h.initProducerId("tx").get()
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t0, Self.t1]) == KafkaErrorCode.none)
        h.markers.failures = [Self.t1: [.notLeaderOrFollower, .notEnoughReplicas]]
        #expect(h.endTransaction("tx", producerId, epoch, commit: true) == KafkaErrorCode.none)
        #expect(h.coordinator.transactions["tx"]?.state == .prepareCommit)
        h.owner.advance(by: 100)
        #expect(h.coordinator.transactions["tx"]?.state == .prepareCommit)
        h.owner.advance(by: 100)
        #expect(h.markers.calls.map(\.partitions) == [[Self.t0, Self.t1], [Self.t1], [Self.t1]])
        #expect(h.coordinator.transactions["tx"]?.state == .completeCommit)
    }

    /// A coordinator that starts on a log whose last record of an id is PrepareCommit (it
    /// stopped while markers were being written) writes them again and completes.
    @Test func aRestartFinishesTheMarkersOfADecidedTransaction() throws {
        let h = try TransactionHarness()
        let (producerId, epoch) = try h.initProducerId("tx").get()
        #expect(h.addPartitions("tx", producerId, epoch, [Self.t0]) == KafkaErrorCode.none)
        h.markers.hold = true
        #expect(h.endTransaction("tx", producerId, epoch, commit: true) == KafkaErrorCode.none)
        let restarted = try TransactionHarness(records: h.store.records)
        #expect(restarted.markers.calls.map(\.kind) == [.commit])
        #expect(restarted.coordinator.transactions["tx"]?.state == .completeCommit)
    }

    @Test func exhaustedEpochsGetANewProducerIdAndRetriesOfABumpGetTheSameAnswer() throws {
        var exhausted = TransactionMetadata(transactionalId: "tx", producerId: 7, producerEpoch: Int16.max - 1, timeoutMs: 60_000,
                                            state: .completeCommit, lastUpdateTimestampMs: 0)
        exhausted.lastProducerEpoch = Int16.max - 2
        let h = try TransactionHarness(records: [("tx", exhausted)])
        let renewed = try h.initProducerId("tx").get()
        #expect(renewed.0 == 1_000 && renewed.1 == 0)
        #expect(h.coordinator.transactions["tx"]?.previousProducerId == 7)
        // KIP-360: naming the current pair bumps it; naming the pair before (a lost answer) gets
        // the same answer again; anything else is fenced.
        let bumped = try h.initProducerId("tx", expected: (1_000, 0)).get()
        #expect(bumped.0 == 1_000 && bumped.1 == 1)
        let again = try h.initProducerId("tx", expected: (1_000, 0)).get()
        #expect(again.0 == 1_000 && again.1 == 1)
        #expect(h.initProducerId("tx", expected: (7, 3)) == .failure(.producerFenced))
    }

    @Test func recordsRoundTripInKafkasLayout() throws {
        var metadata = TransactionMetadata(transactionalId: "tx-1", producerId: 42, producerEpoch: 3, timeoutMs: 60_000, state: .ongoing,
                                           partitions: [Self.t0, Self.t1, .init(topic: "a", partition: 9)], startTimestampMs: 10,
                                           lastUpdateTimestampMs: 20)
        var key = try TransactionMetadata.recordKey("tx-1")
        #expect(key.readInteger(as: Int16.self) == 0 && key.readInteger(as: Int16.self) == 4, "key version 0, then the id")
        var value = try metadata.recordValue()
        #expect(value.getInteger(at: value.readerIndex, as: Int16.self) == 0, "value version 0 while it needs no tagged field")
        var decoded = try TransactionMetadata.decode(key: try TransactionMetadata.recordKey("tx-1"), value: value)
        #expect(decoded.0 == "tx-1" && decoded.1 == metadata)
        metadata.previousProducerId = 41
        value = try metadata.recordValue()
        #expect(value.getInteger(at: value.readerIndex, as: Int16.self) == 1, "version 1 carries the previous producer id")
        decoded = try TransactionMetadata.decode(key: try TransactionMetadata.recordKey("tx-1"), value: value)
        #expect(decoded.1 == metadata)
        #expect(try TransactionMetadata.decode(key: try TransactionMetadata.recordKey("tx-1"), value: nil).1 == nil)
    }
}

/// The coordinator on a manual owner, an in-memory log and a recording marker writer.
final class TransactionHarness {
    let clock = ManualClock()
    let owner: ManualOwner
    let store: MemoryTransactionStore
    let markers = RecordingMarkerWriter()
    let coordinator: TransactionCoordinator
    private var nextProducerId: Int64 = 1_000

    init(records: [(String, TransactionMetadata?)] = []) throws {
        owner = ManualOwner(clock: clock)
        store = MemoryTransactionStore(records: records)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let ids = ProducerIds()
        let clock = self.clock
        coordinator = try TransactionCoordinator(config: TransactionCoordinatorConfig(), store: store, markers: markers,
                                                 newProducerId: { $0(.success(ids.next())) }, owner: owner, coordinatorEpoch: 5,
                                                 clock: { clock.value }, logger: logger)
    }

    func initProducerId(_ id: String, timeoutMs: Int32 = 60_000, expected: (Int64, Int16)? = nil) -> Result<(Int64, Int16), KafkaErrorCode> {
        var answer: Result<(Int64, Int16), KafkaErrorCode>?
        coordinator.initProducerId(transactionalId: id, timeoutMs: timeoutMs, expected: expected.map { ($0.0, $0.1) }) { result in
            answer = result.map { ($0.producerId, $0.epoch) }
        }
        return answer ?? .failure(.requestTimedOut)
    }

    func addPartitions(_ id: String, _ producerId: Int64, _ epoch: Int16, _ partitions: [TopicPartitionKey]) -> KafkaErrorCode? {
        var answer: KafkaErrorCode?
        coordinator.addPartitions(transactionalId: id, producerId: producerId, producerEpoch: epoch, partitions: partitions) { answer = $0 }
        return answer
    }

    func endTransaction(_ id: String, _ producerId: Int64, _ epoch: Int16, commit: Bool) -> KafkaErrorCode? {
        var answer: KafkaErrorCode?
        coordinator.endTransaction(transactionalId: id, producerId: producerId, producerEpoch: epoch, commit: commit) { answer = $0 }
        return answer
    }
}

extension Result where Success == (Int64, Int16), Failure == KafkaErrorCode {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.success(let a), .success(let b)): a == b
        case (.failure(let a), .failure(let b)): a == b
        default: false
        }
    }
}

final class ProducerIds: @unchecked Sendable {
    private var value: Int64 = 1_000
    func next() -> Int64 {
        defer { value += 1 }
        return value
    }
}

/// The transaction log in memory; writes complete at once (or fail, when told to).
final class MemoryTransactionStore: TransactionStore {
    var records: [(String, TransactionMetadata?)]
    var written: [(String, TransactionMetadata?)] = []
    var failWrites = false

    init(records: [(String, TransactionMetadata?)]) { self.records = records }

    func loadRecords() throws -> [(String, TransactionMetadata?)] { records }

    func write(_ transactionalId: String, _ metadata: TransactionMetadata?, completion: @escaping (Result<Void, any Error>) -> Void) {
        guard !failWrites else { return completion(.failure(TransactionLogError(description: "disk full"))) }
        records.append((transactionalId, metadata))
        written.append((transactionalId, metadata))
        completion(.success(()))
    }

    func states(_ id: String) -> [TransactionState] { written.filter { $0.0 == id }.compactMap { $0.1?.state } }
}

/// Records every marker write; answers at once (with scripted failures per partition), or
/// holds the answers until released.
final class RecordingMarkerWriter: TransactionMarkerWriter {
    struct Call {
        let kind: EndTransactionMarker.Kind
        let coordinatorEpoch: Int32
        let producerId: Int64
        let producerEpoch: Int16
        let partitions: [TopicPartitionKey]
    }

    var calls: [Call] = []
    var hold = false
    var failures: [TopicPartitionKey: [KafkaErrorCode]] = [:]
    private var held: [() -> Void] = []

    func write(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, partitions: [TopicPartitionKey],
               completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void) {
        calls.append(Call(kind: marker.kind, coordinatorEpoch: marker.coordinatorEpoch, producerId: producerId, producerEpoch: producerEpoch,
                          partitions: partitions))
        var results: [TopicPartitionKey: KafkaErrorCode] = [:]
        for partition in partitions {
            if var scripted = failures[partition], !scripted.isEmpty {
                results[partition] = scripted.removeFirst()
                failures[partition] = scripted
            } else {
                results[partition] = KafkaErrorCode.none
            }
        }
        if hold {
            held.append { completion(results) }
        } else {
            completion(results)
        }
    }

    func release() {
        hold = false
        let pending = held
        held.removeAll()
        pending.forEach { $0() }
    }
}
