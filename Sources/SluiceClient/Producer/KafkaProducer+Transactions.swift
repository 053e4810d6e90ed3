import KafkaProtocol
import NIOCore

/// The transactional producer (KIP-98), with the Java client's calls and rules: one
/// `initTransactions`, then `beginTransaction`, sends and `sendOffsetsToTransaction`, and
/// `commitTransaction` or `abortTransaction`. Partitions join the transaction with
/// AddPartitionsToTxn the first time a batch of theirs is sent in it (the sender does that,
/// just before the batch leaves).
extension KafkaProducer {
    /// Registers the transactional id with its coordinator and takes its producer id and a new
    /// epoch, which fences any older producer with the same id and completes (commits or
    /// aborts) the transaction it left open. Call once, before the first transaction.
    public func initTransactions() async throws {
        let id = try transactionalId()
        try state.withLock { state in
            guard case .uninitialized = state.transaction?.phase else {
                throw KafkaClientError(kind: .invalidState, message: "initTransactions was already called")
            }
        }
        let deadline = ContinuousClock.now + config.maxBlock
        let timeoutMs = Int32(clamping: config.transactionTimeout.milliseconds)
        let requestTimeout = config.client.requestTimeout
        let (producerId, epoch) = try await askCoordinator(.transaction(id), "InitProducerId", until: deadline) { connection in
            let (response, _) = try await connection.send(InitProducerIdRequest(transactionalId: id, transactionTimeoutMs: timeoutMs),
                                                          versions: 0...4, timeout: requestTimeout)
            return (KafkaErrorCode(rawValue: response.errorCode), (response.producerId, response.producerEpoch))
        }
        state.withLock { state in
            state.producerId = producerId
            state.producerEpoch = epoch
            state.resetSequences()
            state.transaction?.phase = .ready
        }
        logger.info("transactions initialised", metadata: ["transactional.id": "\(id)", "producer.id": "\(producerId)",
                                                           "epoch": "\(epoch)"])
    }

    /// Opens a transaction on the client; the coordinator hears of it with the first send (or
    /// `sendOffsetsToTransaction`).
    public func beginTransaction() throws {
        _ = try transactionalId()
        try state.withLock { state in
            switch state.transaction?.phase {
            case .ready?: state.transaction?.phase = .inTransaction
            case .fatalError(let error)?: throw error
            case .uninitialized?: throw KafkaClientError(kind: .invalidState, message: "call initTransactions first")
            default: throw KafkaClientError(kind: .invalidState, message: "a transaction is already open")
            }
        }
    }

    /// Commits a consumer group's offsets as part of the transaction: they become the group's
    /// committed offsets if and only if the transaction commits. `offsets` are the positions to
    /// resume from (the last processed record's offset + 1).
    public func sendOffsetsToTransaction(_ offsets: [TopicPartition: Int64], groupMetadata: ConsumerGroupMetadata) async throws {
        let id = try transactionalId()
        let (producerId, epoch) = try state.withLock { state -> (Int64, Int16) in
            if let refusal = state.transaction?.refusal { throw refusal }
            return (state.producerId, state.producerEpoch)
        }
        let deadline = ContinuousClock.now + config.maxBlock
        let requestTimeout = config.client.requestTimeout
        do {
            try await askCoordinator(.transaction(id), "AddOffsetsToTxn", until: deadline) { connection in
                let request = AddOffsetsToTxnRequest(transactionalId: id, producerId: producerId, producerEpoch: epoch,
                                                     groupId: groupMetadata.groupId)
                let (response, _) = try await connection.send(request, versions: 0...3, timeout: requestTimeout)
                return (KafkaErrorCode(rawValue: response.errorCode), ())
            }
            state.withLock { $0.transaction?.started = true }
            guard !offsets.isEmpty else { return }
            let request = TxnOffsetCommitRequest(
                transactionalId: id, groupId: groupMetadata.groupId, producerId: producerId, producerEpoch: epoch,
                generationId: groupMetadata.generationId, memberId: groupMetadata.memberId,
                groupInstanceId: groupMetadata.groupInstanceId,
                topics: Dictionary(grouping: offsets, by: \.key.topic).map { topic, entries in
                    .init(name: topic, partitions: entries.map {
                        .init(partitionIndex: $0.key.partition, committedOffset: $0.value, committedLeaderEpoch: -1, committedMetadata: "")
                    })
                })
            try await askCoordinator(.group(groupMetadata.groupId), "TxnOffsetCommit", until: deadline) { connection in
                let (response, _) = try await connection.send(request, versions: 0...3, timeout: requestTimeout)
                let codes = response.topics.flatMap { $0.partitions.map { KafkaErrorCode(rawValue: $0.errorCode) } }
                return (codes.first { $0 != .none } ?? .none, ())
            }
        } catch let error as KafkaClientError {
            // A timeout may be retried by the application; anything else spoils the transaction.
            if error.kind != .timeout { state.withLock { $0.transaction?.recordFailure(error, hadSequence: false) } }
            throw error
        }
    }

    /// Sends what is queued, waits for every record of the transaction, and commits it. Fails,
    /// leaving the transaction to be aborted, when any of its records failed. A call that timed
    /// out may be repeated.
    public func commitTransaction() async throws {
        let id = try transactionalId()
        try state.withLock { state in
            switch state.transaction?.phase {
            case .inTransaction?, .committing?: state.transaction?.phase = .committing
            case .abortableError(let error)?:
                throw KafkaClientError(kind: .invalidState, code: error.code, message: "the transaction failed and must be aborted: \(error.message)")
            case .fatalError(let error)?: throw error
            default: throw KafkaClientError(kind: .invalidState, message: "no open transaction to commit")
            }
        }
        await flush()
        let (failure, started, producerId, epoch) = state.withLock { state in
            (state.transaction?.failure, state.transaction?.started ?? false, state.producerId, state.producerEpoch)
        }
        if let failure {
            throw KafkaClientError(kind: .invalidState, code: failure.code,
                                   message: "a record of the transaction failed, so it must be aborted: \(failure.message)")
        }
        if started { try await endTransaction(id, commit: true, producerId: producerId, epoch: epoch) }
        state.withLock { $0.transaction?.finishTransaction() }
    }

    /// Aborts the transaction: records not yet sent fail with `.transactionAborted`, those in
    /// flight are waited for, and the coordinator writes abort markers so read_committed
    /// consumers never see any of it. The producer is then ready for the next transaction.
    public func abortTransaction() async throws {
        let id = try transactionalId()
        try state.withLock { state in
            switch state.transaction?.phase {
            case .inTransaction?, .abortableError?, .aborting?, .committing?: state.transaction?.phase = .aborting
            case .fatalError(let error)?: throw error
            default: throw KafkaClientError(kind: .invalidState, message: "no open transaction to abort")
            }
        }
        let unsent = state.withLock { state in
            let taken = state.takeUnsent()
            if taken.contains(where: { $0.1.sequence != nil }) { state.transaction?.sequencesUncertain = true }
            return taken
        }
        let aborted = KafkaClientError(kind: .transactionAborted, message: "the transaction was aborted before this record was sent")
        for (partition, batch) in unsent { report(batch.records, of: partition, .failure(aborted)) }
        release(unsent.reduce(0) { $0 + $1.1.records.count })
        await flush()
        let (started, uncertain, producerId, epoch) = state.withLock { state in
            (state.transaction?.started ?? false, state.transaction?.sequencesUncertain ?? false, state.producerId, state.producerEpoch)
        }
        if started { try await endTransaction(id, commit: false, producerId: producerId, epoch: epoch) }
        if uncertain { try await bumpEpoch(id, producerId: producerId, epoch: epoch) }
        state.withLock { $0.transaction?.finishTransaction() }
    }

    private func endTransaction(_ id: String, commit: Bool, producerId: Int64, epoch: Int16) async throws {
        let requestTimeout = config.client.requestTimeout
        do {
            try await askCoordinator(.transaction(id), "EndTxn", until: .now + config.maxBlock) { connection in
                let request = EndTxnRequest(transactionalId: id, producerId: producerId, producerEpoch: epoch, committed: commit)
                let (response, _) = try await connection.send(request, versions: 0...3, timeout: requestTimeout)
                return (KafkaErrorCode(rawValue: response.errorCode), ())
            }
        } catch let error as KafkaClientError {
            if TransactionProgress.isFatal(error.code) { state.withLock { $0.transaction?.phase = .fatalError(error) } }
            throw error
        }
    }

    /// After an abort that left sequence numbers unknown: a new epoch for the same producer id
    /// (KIP-360), so sequences start again at 0. A coordinator without InitProducerId v3 gets a
    /// plain InitProducerId, which does the same for this transactional id.
    private func bumpEpoch(_ id: String, producerId: Int64, epoch: Int16) async throws {
        let timeoutMs = Int32(clamping: config.transactionTimeout.milliseconds)
        let requestTimeout = config.client.requestTimeout
        do {
            let (newId, newEpoch) = try await askCoordinator(.transaction(id), "InitProducerId (epoch bump)",
                                                            until: .now + config.maxBlock) { connection in
                let version = try connection.version(for: .initProducerId, clientRange: 0...4)
                let request = version >= 3
                    ? InitProducerIdRequest(transactionalId: id, transactionTimeoutMs: timeoutMs, producerId: producerId, producerEpoch: epoch)
                    : InitProducerIdRequest(transactionalId: id, transactionTimeoutMs: timeoutMs)
                let response = try await connection.send(request, version: version, timeout: requestTimeout)
                return (KafkaErrorCode(rawValue: response.errorCode), (response.producerId, response.producerEpoch))
            }
            state.withLock { state in
                state.producerId = newId
                state.producerEpoch = newEpoch
                state.resetSequences()
                state.transaction?.sequencesUncertain = false
            }
        } catch let error as KafkaClientError {
            if TransactionProgress.isFatal(error.code) { state.withLock { $0.transaction?.phase = .fatalError(error) } }
            throw error
        }
    }

    /// Adds the partitions of `work` that are new to the open transaction (AddPartitionsToTxn),
    /// before their first batch is sent. Batches of partitions that could not be added fail,
    /// and the transaction then has to be aborted.
    func addPartitionsToTransaction(_ work: inout [InFlightBatch]) async {
        guard let id = config.transactionalId, !work.isEmpty else { return }
        let (needed, producerId, epoch) = state.withLock { state in
            (Set(work.map(\.partition)).subtracting(state.transaction?.added ?? []), state.producerId, state.producerEpoch)
        }
        guard !needed.isEmpty else { return }
        let requestTimeout = config.client.requestTimeout
        let request = AddPartitionsToTxnRequest(
            v3AndBelowTransactionalId: id, v3AndBelowProducerId: producerId, v3AndBelowProducerEpoch: epoch,
            v3AndBelowTopics: Dictionary(grouping: needed, by: \.topic).map { .init(name: $0.key, partitions: $0.value.map(\.partition)) })
        do {
            try await askCoordinator(.transaction(id), "AddPartitionsToTxn", until: .now + config.maxBlock) { connection in
                let (response, _) = try await connection.send(request, versions: 0...3, timeout: requestTimeout)
                let codes = response.resultsByTopicV3AndBelow.flatMap { $0.resultsByPartition.map { KafkaErrorCode(rawValue: $0.partitionErrorCode) } }
                // OPERATION_NOT_ATTEMPTED marks the partitions refused only because another was.
                let code = codes.first { $0 != .none && $0 != .operationNotAttempted } ?? codes.first { $0 != .none } ?? .none
                return (code, ())
            }
            state.withLock { state in
                state.transaction?.added.formUnion(needed)
                state.transaction?.started = true
            }
        } catch {
            let failure = error as? KafkaClientError ?? KafkaClientError(kind: .connection, message: "\(error)")
            logger.warning("AddPartitionsToTxn failed", metadata: ["error": "\(failure)"])
            var kept: [InFlightBatch] = []
            for item in work {
                if needed.contains(item.partition) { finish(item, with: .failure(failure)) } else { kept.append(item) }
            }
            work = kept
        }
    }

    private func transactionalId() throws -> String {
        guard let id = config.transactionalId else {
            throw KafkaClientError(kind: .invalidState, message: "the producer has no transactionalId")
        }
        return id
    }
}

/// Whose coordinator a request goes to.
enum CoordinatorKey: Sendable {
    case transaction(String)
    case group(String)
}

extension KafkaProducer {
    /// Sends a request to a coordinator until it is answered without a retriable error, finding
    /// the coordinator again after NOT_COORDINATOR or a lost connection; fails with a timeout at
    /// `deadline`. `call` returns the answer's error code and what the caller wants of it.
    @discardableResult
    func askCoordinator<Result: Sendable>(
        _ key: CoordinatorKey, _ what: String, until deadline: ContinuousClock.Instant,
        _ call: @Sendable (BrokerConnection) async throws -> (KafkaErrorCode, Result)
    ) async throws -> Result {
        var lastError: KafkaClientError?
        repeat {
            var backoff = config.client.retryBackoff
            do {
                let connection: BrokerConnection
                switch key {
                case .transaction(let id): connection = try await cluster.transactionCoordinator(for: id)
                case .group(let group): connection = try await cluster.coordinator(for: group)
                }
                let (code, result) = try await call(connection)
                switch code {
                case .none:
                    return result
                case .notCoordinator, .coordinatorNotAvailable:
                    await forgetCoordinator(key)
                case .concurrentTransactions:
                    // The previous transaction's markers are still being written: soon done.
                    backoff = .milliseconds(20)
                case .coordinatorLoadInProgress, .unknownTopicOrPartition:
                    break
                default:
                    if !code.isRetriable { throw KafkaClientError.broker(code, what) }
                }
                lastError = .broker(code, what)
            } catch let error as KafkaClientError where error.isRetriable {
                if error.kind != .broker { await forgetCoordinator(key) }
                lastError = error
            }
            try? await Task.sleep(for: backoff)
        } while ContinuousClock.now < deadline
        throw KafkaClientError(kind: .timeout, code: lastError?.code,
                               message: "\(what) did not succeed within max.block.ms; last error: \(lastError.map { "\($0)" } ?? "none")")
    }

    private func forgetCoordinator(_ key: CoordinatorKey) async {
        switch key {
        case .transaction(let id): await cluster.invalidateTransactionCoordinator(for: id)
        case .group(let group): await cluster.invalidateCoordinator(for: group)
        }
    }
}
