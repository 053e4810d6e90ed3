import KafkaProtocol
import Logging
import SluiceStorage

/// The transaction coordinator, as Apache Kafka's TransactionCoordinator runs transactions
/// (KIP-98; EndTxn before KIP-890's part 2, so markers carry the producer's epoch): a
/// transactional id gets a producer id and epoch (InitProducerId, which fences older
/// producers of the id), partitions join its transaction (AddPartitionsToTxn,
/// AddOffsetsToTxn), and EndTxn records the outcome (PrepareCommit/PrepareAbort), answers, has
/// the markers written on every partition, and records it complete. A transaction open longer
/// than its timeout is aborted under a bumped epoch, which fences its producer.
///
/// Ownership: every method must be called on `owner`; the coordinator takes no locks, and its
/// store, marker writer and producer id source answer on `owner`. Time comes from the injected
/// clock and timers from `owner`, so tests drive it with a manual clock and no sockets.
public final class TransactionCoordinator: @unchecked Sendable {
    // @unchecked: confined to `owner`, the documented contract above.
    public typealias ProducerIdSource = (@escaping @Sendable (Result<Int64, any Error>) -> Void) -> Void

    public let owner: any LogOwnerExecutor
    let config: TransactionCoordinatorConfig
    let store: any TransactionStore
    let markers: any TransactionMarkerWriter
    let newProducerId: ProducerIdSource
    let clock: @Sendable () -> Int64
    let logger: Logger
    /// The epoch of this coordinator's term (the leader epoch of its transaction log
    /// partition): markers carry it, and partitions refuse those of older terms.
    public private(set) var coordinatorEpoch: Int32
    public private(set) var transactions: [String: TransactionMetadata] = [:]
    /// Shared by every coordinator of a broker (a cluster runs one per partition it leads).
    public let statistics: TransactionStatistics
    /// Ids with a transaction log write (or a producer id request) in flight: Kafka's pending
    /// transition. Requests for them meanwhile get CONCURRENT_TRANSACTIONS.
    var pending: Set<String> = []
    var timers: [any LogScheduledTask] = []
    /// At most one retry armed per id (markers again, or the complete record again).
    var retries: [String: any LogScheduledTask] = [:]

    public init(config: TransactionCoordinatorConfig, store: any TransactionStore, markers: any TransactionMarkerWriter,
                newProducerId: @escaping ProducerIdSource, owner: any LogOwnerExecutor, coordinatorEpoch: Int32 = 0,
                statistics: TransactionStatistics = TransactionStatistics(), clock: @escaping @Sendable () -> Int64, logger: Logger) throws {
        self.statistics = statistics
        self.config = config
        self.store = store
        self.markers = markers
        self.newProducerId = newProducerId
        self.owner = owner
        self.coordinatorEpoch = coordinatorEpoch
        self.clock = clock
        self.logger = logger
        precondition(owner.isCurrent, "the transaction coordinator is used on its owner only")
        load(try store.loadRecords())
    }

    /// Takes the transactions `records` hold (later records replacing earlier ones) and goes on
    /// with those whose outcome was recorded but whose markers may not all be written.
    public func load(_ records: [(String, TransactionMetadata?)]) {
        for (id, metadata) in records { transactions[id] = metadata }
        for metadata in transactions.values where metadata.state == .ongoing { statistics.transition(from: nil, to: .ongoing) }
        let deciding = transactions.filter { $0.value.state.isPreparing }.keys
        for id in deciding { sendMarkers(id) }
        logger.info("transaction coordinator loaded", metadata: [
            "transactions": "\(transactions.count)", "coordinatorEpoch": "\(coordinatorEpoch)",
            "decidedAwaitingMarkers": "\(deciding.count)"])
    }

    /// Starts aborting transactions past their timeout every
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms.
    public func start() {
        timers.append(owner.scheduleRepeated(everyMs: max(1, config.abortTimedOutIntervalMs)) { [self] in abortTimedOut() })
        timers.append(owner.scheduleRepeated(everyMs: max(1, config.removeExpiredIntervalMs)) { [self] in expireTransactionalIds() })
    }

    /// Stops the timers and retries; the open transactions no longer count here (another
    /// coordinator takes them over when a partition moves).
    public func stop() {
        for metadata in transactions.values where metadata.state == .ongoing { statistics.forget(.ongoing) }
        timers.forEach { $0.cancel() }
        timers.removeAll()
        retries.values.forEach { $0.cancel() }
        retries.removeAll()
    }

    private func retry(_ id: String, _ work: @escaping @Sendable () -> Void) {
        retries[id]?.cancel()
        retries[id] = owner.schedule(afterMs: config.markerRetryBackoffMs) { [self] in
            retries[id] = nil
            work()
        }
    }

    // MARK: InitProducerId

    /// InitProducerId with a transactional id: a new id at epoch 0, or the id's producer id at
    /// the next epoch, which fences its older producers; an open transaction is aborted first
    /// (the caller hears CONCURRENT_TRANSACTIONS and retries). `expected` (KIP-360, v3+) is the
    /// producer id and epoch the client had: a retry of a bump it did not hear gets the same
    /// answer again, a stale pair PRODUCER_FENCED.
    public func initProducerId(transactionalId id: String, timeoutMs: Int32, expected: (producerId: Int64, epoch: Int16)? = nil,
                               completion: @escaping (Result<(producerId: Int64, epoch: Int16), KafkaErrorCode>) -> Void) {
        precondition(owner.isCurrent, "the transaction coordinator is used on its owner only")
        guard !id.isEmpty else { return completion(.failure(.invalidRequest)) }
        guard timeoutMs > 0, timeoutMs <= config.maxTimeoutMs else { return completion(.failure(.invalidTransactionTimeout)) }
        guard !pending.contains(id) else { return completion(.failure(.concurrentTransactions)) }
        guard let current = transactions[id], current.state != .dead else {
            pending.insert(id)
            let completion = OwnerBound(completion)
            newProducerId { result in
                self.owner.execute {
                    let completion = completion.value
                    switch result {
                    case .failure(let error):
                        self.pending.remove(id)
                        self.logger.warning("no producer id for a transactional id", metadata: ["transactionalId": "\(id)", "error": "\(error)"])
                        completion(.failure(.coordinatorNotAvailable))
                    case .success(let producerId):
                        let metadata = TransactionMetadata(transactionalId: id, producerId: producerId, producerEpoch: 0, timeoutMs: timeoutMs,
                                                           state: .empty, lastUpdateTimestampMs: self.clock())
                        self.persist(metadata, pendingAlready: true) { code in
                            completion(code == .none ? .success((producerId, 0)) : .failure(code))
                        }
                    }
                }
            }
            return
        }
        if let expected, expected.epoch >= 0 {
            if expected.producerId == current.producerId && expected.epoch == current.lastProducerEpoch && current.state == .empty {
                // The answer to this very request was lost: the bump is done already.
                return completion(.success((current.producerId, current.producerEpoch)))
            }
            let matches = expected.producerId == current.producerId && expected.epoch == current.producerEpoch
            guard matches else { return completion(.failure(.producerFenced)) }
        }
        switch current.state {
        case .prepareCommit, .prepareAbort, .prepareEpochFence:
            completion(.failure(.concurrentTransactions))
        case .ongoing:
            // Fence the open transaction's producer: abort it under the next epoch. The caller
            // retries once the markers are written and then gets an epoch of its own.
            statistics.recordFencing()
            fenceAndAbort(id)
            completion(.failure(.concurrentTransactions))
        case .empty, .completeCommit, .completeAbort, .dead:
            bumpEpoch(current, timeoutMs: timeoutMs, completion: completion)
        }
    }

    /// The next epoch of the id's producer id, or, once its epochs are used up, a new producer
    /// id at epoch 0 (the old one kept as the previous id).
    private func bumpEpoch(_ current: TransactionMetadata, timeoutMs: Int32,
                           completion: @escaping (Result<(producerId: Int64, epoch: Int16), KafkaErrorCode>) -> Void) {
        let id = current.transactionalId
        var next = current
        next.state = .empty
        next.partitions = []
        next.timeoutMs = timeoutMs
        next.startTimestampMs = -1
        next.lastUpdateTimestampMs = clock()
        next.lastProducerEpoch = current.producerEpoch
        if current.producerEpoch < Int16.max - 1 {
            next.producerEpoch = current.producerEpoch + 1
            persist(next) { code in completion(code == .none ? .success((next.producerId, next.producerEpoch)) : .failure(code)) }
            return
        }
        pending.insert(id)
        let completion = OwnerBound(completion)
        let exhausted = next
        newProducerId { result in
            self.owner.execute {
                let completion = completion.value
                switch result {
                case .failure:
                    self.pending.remove(id)
                    completion(.failure(.coordinatorNotAvailable))
                case .success(let producerId):
                    var renewed = exhausted
                    renewed.previousProducerId = current.producerId
                    renewed.producerId = producerId
                    renewed.producerEpoch = 0
                    renewed.lastProducerEpoch = -1
                    self.persist(renewed, pendingAlready: true) { code in
                        completion(code == .none ? .success((producerId, 0)) : .failure(code))
                    }
                }
            }
        }
    }

    // MARK: AddPartitionsToTxn, AddOffsetsToTxn

    /// Adds partitions to the id's transaction, opening it if none is open. Each partition
    /// gets the same answer (the caller has already answered partitions of unknown topics).
    public func addPartitions(transactionalId id: String, producerId: Int64, producerEpoch: Int16, partitions: [TopicPartitionKey],
                              completion: @escaping (KafkaErrorCode) -> Void) {
        precondition(owner.isCurrent, "the transaction coordinator is used on its owner only")
        if let refusal = validate(id, producerId: producerId, producerEpoch: producerEpoch) { return completion(refusal) }
        guard let current = transactions[id] else { return completion(.invalidProducerIdMapping) }
        switch current.state {
        case .prepareCommit, .prepareAbort, .prepareEpochFence:
            return completion(.concurrentTransactions)
        case .dead:
            return completion(.invalidProducerIdMapping)
        case .ongoing where Set(partitions).isSubset(of: current.partitions):
            return completion(.none)
        case .ongoing, .empty, .completeCommit, .completeAbort:
            var next = current
            if current.state != .ongoing {
                next.partitions = []
                next.startTimestampMs = clock()
            }
            next.state = .ongoing
            next.partitions.formUnion(partitions)
            next.lastUpdateTimestampMs = clock()
            persist(next, completion: completion)
        }
    }

    // MARK: EndTxn

    /// Ends the id's transaction: records PrepareCommit or PrepareAbort, answers once that is
    /// durable, then has the markers written and records the transaction complete. A retry of
    /// a decided transaction gets its answer again; the opposite outcome INVALID_TXN_STATE.
    public func endTransaction(transactionalId id: String, producerId: Int64, producerEpoch: Int16, commit: Bool,
                               completion: @escaping (KafkaErrorCode) -> Void) {
        precondition(owner.isCurrent, "the transaction coordinator is used on its owner only")
        if let refusal = validate(id, producerId: producerId, producerEpoch: producerEpoch) { return completion(refusal) }
        guard let current = transactions[id] else { return completion(.invalidProducerIdMapping) }
        switch current.state {
        case .ongoing:
            prepareEnd(current, commit: commit, completion: completion)
        case .completeCommit:
            completion(commit ? .none : .invalidTxnState)
        case .completeAbort:
            completion(commit ? .invalidTxnState : .none)
        case .prepareCommit:
            completion(commit ? .concurrentTransactions : .invalidTxnState)
        case .prepareAbort:
            completion(commit ? .invalidTxnState : .concurrentTransactions)
        case .prepareEpochFence:
            completion(.concurrentTransactions)
        case .empty, .dead:
            completion(.invalidTxnState)
        }
    }

    /// Kafka's checks before AddPartitionsToTxn and EndTxn: the id is given (an empty one is
    /// INVALID_REQUEST) and known, the producer id
    /// is its own, the epoch its current one, and no log write of it is in flight.
    private func validate(_ id: String, producerId: Int64, producerEpoch: Int16) -> KafkaErrorCode? {
        guard !id.isEmpty else { return .invalidRequest }
        guard let current = transactions[id] else { return .invalidProducerIdMapping }
        guard current.producerId == producerId else { return .invalidProducerIdMapping }
        guard current.producerEpoch == producerEpoch else { return .producerFenced }
        guard !pending.contains(id) else { return .concurrentTransactions }
        return nil
    }

    private func prepareEnd(_ current: TransactionMetadata, commit: Bool, completion: @escaping (KafkaErrorCode) -> Void) {
        var next = current
        next.state = commit ? .prepareCommit : .prepareAbort
        next.lastUpdateTimestampMs = clock()
        persist(next) { [self] code in
            completion(code)
            if code == .none { sendMarkers(current.transactionalId) }
        }
    }

    // MARK: Markers

    /// Has the decided transaction's markers written on each of its partitions, again after a
    /// backoff where that failed for a reason that passes (a leader moving, replicas behind),
    /// then records the transaction complete.
    func sendMarkers(_ id: String, only remaining: [TopicPartitionKey]? = nil) {
        guard let metadata = transactions[id], metadata.state.isPreparing else { return }
        let partitions = remaining ?? metadata.partitions.sorted()
        guard !partitions.isEmpty else { return complete(id) }
        let marker = EndTransactionMarker(kind: metadata.state == .prepareCommit ? .commit : .abort, coordinatorEpoch: coordinatorEpoch)
        markers.write(marker, producerId: metadata.producerId, producerEpoch: metadata.producerEpoch, partitions: partitions) { [self] results in
            precondition(owner.isCurrent, "marker results come back on the coordinator's owner")
            let retry = partitions.filter { Self.isRetriable(results[$0] ?? .requestTimedOut) }
            for (partition, code) in results where code != .none && !Self.isRetriable(code) {
                // Kafka gives up on these: a newer coordinator or producer epoch wrote there.
                logger.warning("transaction marker refused; not retried", metadata: [
                    "transactionalId": "\(id)", "partition": "\(partition)", "error": "\(code.name)"])
            }
            guard retry.isEmpty else { return self.retry(id) { [self] in sendMarkers(id, only: retry) } }
            complete(id)
        }
    }

    static func isRetriable(_ code: KafkaErrorCode) -> Bool {
        [.notLeaderOrFollower, .unknownTopicOrPartition, .notEnoughReplicas, .notEnoughReplicasAfterAppend, .requestTimedOut,
         .kafkaStorageError, .coordinatorLoadInProgress].contains(code)
    }

    /// Records CompleteCommit or CompleteAbort (again later if the write fails).
    private func complete(_ id: String) {
        guard let metadata = transactions[id], metadata.state.isPreparing else { return }
        var next = metadata
        next.state = metadata.state == .prepareCommit ? .completeCommit : .completeAbort
        next.partitions = []
        next.lastUpdateTimestampMs = clock()
        persist(next) { [self] code in
            guard code != .none else { return }
            retry(id) { [self] in complete(id) }
        }
    }

    // MARK: Timeouts and fencing

    /// Aborts every transaction open longer than its timeout, fencing its producer (the abort
    /// carries the next epoch, so the producer's next write or EndTxn is refused).
    public func abortTimedOut() {
        let now = clock()
        for (id, metadata) in transactions where metadata.state == .ongoing && !pending.contains(id)
            && metadata.startTimestampMs + Int64(metadata.timeoutMs) < now {
            logger.info("aborting a transaction past its timeout", metadata: [
                "transactionalId": "\(id)", "producerId": "\(metadata.producerId)", "timeoutMs": "\(metadata.timeoutMs)"])
            statistics.recordTimeout()
            fenceAndAbort(id)
        }
    }

    /// Forgets the transactional ids unused for transactional.id.expiration.ms, as Kafka's
    /// coordinator removes expired ids: one with no transaction open or deciding gets a
    /// tombstone in the log (the cleaner then drops its record), and a producer that comes back
    /// with it starts under a new producer id.
    public func expireTransactionalIds() {
        let now = clock()
        for (id, metadata) in transactions where !pending.contains(id)
            && [.empty, .completeCommit, .completeAbort].contains(metadata.state)
            && metadata.lastUpdateTimestampMs + config.transactionalIdExpirationMs <= now {
            pending.insert(id)
            store.write(id, nil) { [self] result in
                precondition(owner.isCurrent, "the transaction store answers on the coordinator's owner")
                pending.remove(id)
                // A failed write leaves the id for the next check.
                guard case .success = result else { return }
                transactions[id] = nil
                logger.info("transactional id expired", metadata: ["transactionalId": "\(id)", "producerId": "\(metadata.producerId)"])
            }
        }
    }

    /// Kafka's prepareFenceProducerEpoch then an abort: the next epoch (kept if the epochs are
    /// used up), PrepareAbort recorded under it, markers written with it.
    private func fenceAndAbort(_ id: String) {
        guard var fenced = transactions[id], fenced.state == .ongoing else { return }
        if fenced.producerEpoch < Int16.max - 1 {
            fenced.lastProducerEpoch = fenced.producerEpoch
            fenced.producerEpoch += 1
        }
        prepareEnd(fenced, commit: false) { [self] code in
            if code != .none {
                logger.warning("could not abort a fenced transaction; retried at the next check", metadata: [
                    "transactionalId": "\(id)", "error": "\(code.name)"])
            }
        }
    }

    // MARK: The log

    /// Writes `next` to the log and, once it is durable, makes it the id's metadata. While the
    /// write is in flight the id is pending; a failed write leaves the metadata as it was.
    private func persist(_ next: TransactionMetadata, pendingAlready: Bool = false, completion: @escaping (KafkaErrorCode) -> Void) {
        let id = next.transactionalId
        precondition(pendingAlready || !pending.contains(id), "two transaction log writes of one id at once")
        pending.insert(id)
        store.write(id, next) { [self] result in
            precondition(owner.isCurrent, "the transaction store answers on the coordinator's owner")
            pending.remove(id)
            switch result {
            case .success:
                statistics.transition(from: transactions[id]?.state, to: next.state)
                transactions[id] = next
                completion(.none)
            case .failure(let error):
                logger.warning("transaction log write failed", metadata: ["transactionalId": "\(id)", "error": "\(error)"])
                completion(.notCoordinator)
            }
        }
    }

    // MARK: Describing

    /// The id's transaction when one is open (Ongoing): what a transactional write must belong to.
    public func openTransaction(_ id: String) -> TransactionMetadata? {
        precondition(owner.isCurrent, "the transaction coordinator is used on its owner only")
        return transactions[id].flatMap { $0.state == .ongoing ? $0 : nil }
    }

    /// DescribeTransactions: each id's metadata, nil for an unknown one.
    public func describe(_ ids: [String]) -> [(String, TransactionMetadata?)] {
        ids.map { ($0, transactions[$0]) }
    }

    /// ListTransactions: the ids, filtered by state names and producer ids (empty: all).
    public func list(states: [String] = [], producerIds: [Int64] = []) -> [TransactionMetadata] {
        transactions.values.filter {
            (states.isEmpty || states.contains($0.state.name)) && (producerIds.isEmpty || producerIds.contains($0.producerId))
        }.sorted { $0.transactionalId < $1.transactionalId }
    }
}
