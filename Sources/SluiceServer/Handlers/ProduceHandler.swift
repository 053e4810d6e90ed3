import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// Produce: advertised v0–11 (librdkafka enables compression only when the range starts at 0);
/// v0–2 carry old message sets and are answered with UNSUPPORTED_VERSION per partition.
/// acks=0 gets no response; acks=1 and acks=-1 are answered when the append completed, which
/// under the default `flush.messages=1` means after the fdatasync covering it.
enum ProduceHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(ProduceRequest.self)
        let broker = request.broker
        let eventLoop = request.eventLoop
        guard body.acks == 0 || body.acks == 1 || body.acks == -1 else {
            return respond(request, body: body, code: .invalidRequiredAcks, message: "acks must be 0, 1 or -1")
        }
        if request.version < 3 {
            return respond(request, body: body, code: .unsupportedVersion,
                           message: "Produce v0-2 (message format v0/v1) is not supported; use v3 or later")
        }
        if let transactionalId = body.transactionalId {
            // KIP-890 part 1: a transactional write must belong to its producer's open
            // transaction; what that is, the coordinator says.
            guard case .served(let coordinator) = broker.transactions.lookup(transactionalId) else {
                return verifiedRemotely(request, body, transactionalId: transactionalId)
            }
            let promise = eventLoop.makePromise(of: OutgoingResponse?.self)
            coordinator.owner.execute {
                let open = coordinator.openTransaction(transactionalId)
                eventLoop.execute { promise.completeWith(produce(request, body, check: .local(open))) }
            }
            return promise.futureResult
        }
        return produce(request, body, check: .none)
    }

    /// How the transactional batches of a request are checked against their transaction.
    enum TransactionCheck {
        case none
        /// Against the open transaction of a coordinator on this broker.
        case local(TransactionMetadata?)
        /// As a coordinator elsewhere answered, per partition.
        case remote([TopicPartitionKey: KafkaErrorCode])

        func refusal(_ header: RecordBatchHeader, _ partition: TopicPartitionKey) -> (code: KafkaErrorCode, message: String)? {
            switch self {
            case .none:
                return nil
            case .local(let open):
                return ProduceHandler.transactionRefusal(header, open, partition)
            case .remote(let codes):
                guard let code = codes[partition], code != .none else { return nil }
                return (code, code == .notEnoughReplicas ? "the transaction coordinator could not be asked yet"
                                                        : "Record was not part of an ongoing transaction")
            }
        }
    }

    /// The id's coordinator is another broker: the partitions whose producer state does not
    /// hold this producer's open transaction yet are checked with it first (`TransactionVerifier`).
    private static func verifiedRemotely(_ request: RequestContext, _ body: ProduceRequest,
                                         transactionalId: String) -> EventLoopFuture<OutgoingResponse?> {
        let broker = request.broker
        guard let cluster = broker.cluster, let verifier = cluster.transactionPartitions?.verifier else {
            return produce(request, body, check: .none)
        }
        var partitions: [(TopicPartitionKey, Partition)] = []
        var producer: (id: Int64, epoch: Int16)?
        for topicData in body.topicData {
            for partitionData in topicData.partitionData {
                guard let records = partitionData.records, let header = try? RecordBatchHeader(peekingAt: records),
                      header.attributes.isTransactional,
                      let partition = broker.registry.partition(topic: topicData.name, index: partitionData.index) else { continue }
                producer = producer ?? (header.producerId, header.producerEpoch)
                partitions.append((TopicPartitionKey(topic: topicData.name, partition: partitionData.index), partition))
            }
        }
        guard let producer, !partitions.isEmpty else { return produce(request, body, check: .none) }
        let eventLoop = request.eventLoop
        let promise = eventLoop.makePromise(of: OutgoingResponse?.self)
        promise.completeWithTask {
            let codes = await verifier.verify(transactionalId, producerId: producer.id, producerEpoch: producer.epoch,
                                              partitions: partitions, cluster: cluster)
            return try await eventLoop.flatSubmit { produce(request, body, check: .remote(codes)) }.get()
        }
        return promise.futureResult
    }

    /// The partitions' appends; transactional batches pass `check` first.
    private static func produce(_ request: RequestContext, _ body: ProduceRequest, check: TransactionCheck) -> EventLoopFuture<OutgoingResponse?> {
        let broker = request.broker
        let eventLoop = request.eventLoop
        // acks=0 answers nothing: its appends report only failures, in the broker's log.
        let answers = body.acks == 0 ? nil : ProduceAnswers(request, partitions: body.topicData.reduce(0) { $0 + $1.partitionData.count })
        var slot = 0
        for topicData in body.topicData {
            let topic = broker.registry.topic(named: topicData.name)
            for partitionData in topicData.partitionData {
                let mySlot = slot
                slot += 1
                guard let topic, partitionData.index >= 0, Int(partitionData.index) < topic.partitions.count else {
                    answers?.record(PartitionResult(topic: topicData.name, index: partitionData.index, code: .unknownTopicOrPartition,
                                                    message: "This server does not host this topic-partition."), at: mySlot)
                    continue
                }
                let partition = topic.partitions[Int(partitionData.index)]
                var batch: RecordBatch
                let now = broker.nowMs()
                switch ProduceValidator.validate(partitionData.records, produceVersion: request.version, maxMessageBytes: topic.maxMessageBytes,
                                                 timestamps: ProduceValidator.TimestampBounds(topic, nowMs: now),
                                                 requireKeys: topic.resolved.log.compactionEnabled, transactional: body.transactionalId != nil,
                                                 partition: (topicData.name, partitionData.index)) {
                case .failure(let rejection):
                    broker.logger.warning("rejected produce", metadata: [
                        "topic": "\(topicData.name)", "partition": "\(partitionData.index)", "error": "\(rejection.code.rawValue)",
                        "reason": "\(rejection.recordErrors.first?.message ?? rejection.message)"])
                    answers?.record(PartitionResult(topic: topicData.name, index: partitionData.index, code: rejection.code,
                                                    message: rejection.message, recordErrors: rejection.recordErrors), at: mySlot)
                    continue
                case .success(let valid):
                    batch = valid
                }
                if batch.header.attributes.isTransactional,
                   let refusal = check.refusal(batch.header, TopicPartitionKey(topic: topicData.name, partition: partitionData.index)) {
                    answers?.record(PartitionResult(topic: topicData.name, index: partitionData.index, code: refusal.code,
                                                    message: refusal.message), at: mySlot)
                    continue
                }
                if let target = topic.requiredCompression {
                    if batch.header.attributes.compression != target {
                        do {
                            var rebuilt = try ProduceValidator.recompress(batch, to: target, level: topic.resolved.compressionLevel)
                            batch = try RecordBatch.next(from: &rebuilt)!
                        } catch {
                            answers?.record(PartitionResult(topic: topicData.name, index: partitionData.index, code: .corruptMessage,
                                                            message: "\(error)"), at: mySlot)
                            continue
                        }
                    }
                }
                broker.metrics.recordsIn.increment(by: Int64(batch.header.recordCount))
                append(batch.bytes, to: partition, acks: body.acks, minInsyncReplicas: topic.resolved.minInsyncReplicas,
                       timeoutMs: Int64(body.timeoutMs), now: now, on: eventLoop) { result in
                    answers?.record(result, at: mySlot)
                }
            }
        }
        guard let answers else {
            // Kafka sends nothing for acks=0; a failure shows only in the broker's log.
            return eventLoop.makeSucceededFuture(nil)
        }
        return answers.futureResult
    }

    /// Why a transactional batch may not be written: Kafka's verification errors, with its text.
    static func transactionRefusal(_ header: RecordBatchHeader, _ open: TransactionMetadata?,
                                   _ partition: TopicPartitionKey) -> (code: KafkaErrorCode, message: String)? {
        guard let code = TransactionMetadata.verificationError(open, producerId: header.producerId, producerEpoch: header.producerEpoch,
                                                               partition: partition) else { return nil }
        return (code, code == .invalidProducerEpoch ? "producer epoch \(header.producerEpoch) is not the transaction's epoch"
                                                     : "Record was not part of an ongoing transaction")
    }

    /// The partitions' answers of one request, gathered on the request's event loop in the
    /// order the request listed them; the response is encoded once the last is in. One object
    /// and one promise per request, where a future per partition and a gathering step cost more
    /// than the append itself on a small request.
    private final class ProduceAnswers: @unchecked Sendable {
        // @unchecked: every field is used only on `request.eventLoop` (asserted in `record`).
        private let request: RequestContext
        private var results: [PartitionResult?]
        private var outstanding: Int
        private let promise: EventLoopPromise<OutgoingResponse?>

        init(_ request: RequestContext, partitions: Int) {
            self.request = request
            self.results = Array(repeating: nil, count: partitions)
            self.outstanding = partitions
            self.promise = request.eventLoop.makePromise()
            if partitions == 0 { answer() }
        }

        var futureResult: EventLoopFuture<OutgoingResponse?> { promise.futureResult }

        func record(_ result: PartitionResult, at slot: Int) {
            request.eventLoop.preconditionInEventLoop()
            precondition(results[slot] == nil, "partition \(slot) of a produce request answered twice")
            results[slot] = result
            outstanding -= 1
            if outstanding == 0 { answer() }
        }

        private func answer() {
            // Results sharing a topic name answer under one entry, in the order topics first appear.
            var topics: [ProduceResponse.TopicProduceResponse] = []
            let version = request.version
            for case let result? in results {
                let partition = ProduceResponse.PartitionProduceResponse(
                    index: result.index, errorCode: result.code.rawValue, baseOffset: result.baseOffset,
                    logAppendTimeMs: result.logAppendTimeMs, logStartOffset: result.logStartOffset,
                    recordErrors: version >= 8 ? result.recordErrors.map { .init(batchIndex: $0.index, batchIndexErrorMessage: $0.message) } : [],
                    errorMessage: result.code == .none || version < 8 ? nil : result.message)
                if let entry = topics.lastIndex(where: { $0.name == result.topic }) {
                    topics[entry].partitionResponses.append(partition)
                } else {
                    topics.append(.init(name: result.topic, partitionResponses: [partition]))
                }
            }
            do {
                promise.succeed(try OutgoingResponse.encode(ProduceResponse(responses: topics), version: version,
                                                            correlationId: request.correlationId))
            } catch {
                promise.fail(error)
            }
        }
    }

    struct PartitionResult: Sendable {
        var topic: String
        var index: Int32
        var code: KafkaErrorCode = .none
        var message: String? = nil
        var baseOffset: Int64 = -1
        var logAppendTimeMs: Int64 = -1
        var logStartOffset: Int64 = -1
        var recordErrors: [(index: Int32, message: String)] = []
    }

    /// Appends on the partition's own event loop, when the partition layer lets this broker (the
    /// leader, with enough replicas in sync for acks=all); the future completes there when the
    /// write (and, when durable, its fdatasync) is done and, for acks=all on a replicated
    /// partition, when the high watermark passed it (Kafka's DelayedProduce: REQUEST_TIMED_OUT
    /// after the request's timeout, NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
    /// min.insync.replicas meanwhile). The records were checked before, off the partition's
    /// loop, so an invalid batch for a partition short of in-sync replicas gets the record
    /// error where Kafka, checking the ISR first, gives NOT_ENOUGH_REPLICAS.
    static func append(_ bytes: ByteBuffer, to partition: Partition, acks: Int16, minInsyncReplicas: Int, timeoutMs: Int64,
                       now: Int64, on eventLoop: any EventLoop, completion: @escaping @Sendable (PartitionResult) -> Void) {
        let owner = (partition.owner as? EventLoopOwner)?.eventLoop ?? eventLoop
        let promise = Answer(requestLoop: eventLoop, completion: completion)
        let topic = partition.topic
        let index = partition.index
        // On the partition's own loop already, append at once rather than after a queued task.
        owner.executeHere {
            let log: PartitionLog
            switch partition.logForAppend(acks: acks, minInsyncReplicas: minInsyncReplicas) {
            case .failure(let refusal):
                promise.succeed(PartitionResult(topic: topic, index: index, code: refusal.code, message: refusal.message))
                return
            case .success(let leaderLog):
                log = leaderLog
            }
            do {
                try log.append(bytes, nowMs: now) { result in
                    switch result {
                    case .success(let info):
                        let result = PartitionResult(topic: topic, index: index, baseOffset: info.firstOffset,
                                                     logAppendTimeMs: info.logAppendTimeMs, logStartOffset: info.logStartOffset)
                        guard acks == -1 else {
                            promise.succeed(result)
                            return
                        }
                        partition.awaitReplication(through: info.lastOffset + 1, minInsync: minInsyncReplicas, timeoutMs: timeoutMs) { code in
                            var answer = result
                            if code != .none {
                                answer.code = code
                                answer.message = code == .requestTimedOut
                                    ? "The in-sync replicas did not all hold the records within the request's timeout."
                                    : code == .notEnoughReplicasAfterAppend
                                    ? "The records are on fewer replicas than min.insync.replicas (\(minInsyncReplicas)) require."
                                    : "This broker stopped leading the partition before the records were replicated."
                            }
                            promise.succeed(answer)
                        }
                    case .failure(let error):
                        promise.succeed(PartitionResult(topic: topic, index: index, code: StorageErrorMapping.code(for: error), message: "\(error)"))
                    }
                }
            } catch {
                promise.succeed(PartitionResult(topic: topic, index: index, code: StorageErrorMapping.code(for: error), message: "\(error)"))
            }
        }
    }

    /// Hands a partition's answer to the request's event loop (at once when the partition is
    /// owned there).
    private struct Answer: Sendable {
        let requestLoop: any EventLoop
        let completion: @Sendable (PartitionResult) -> Void

        func succeed(_ result: PartitionResult) {
            if requestLoop.inEventLoop {
                completion(result)
            } else {
                requestLoop.execute { completion(result) }
            }
        }
    }

    /// Every partition gets the same answer (request-level problems).
    private static func respond(_ request: RequestContext, body: ProduceRequest, code: KafkaErrorCode,
                                message: String) -> EventLoopFuture<OutgoingResponse?> {
        if body.acks == 0 { return request.eventLoop.makeSucceededFuture(nil) }
        let topics = body.topicData.map { topic in
            ProduceResponse.TopicProduceResponse(name: topic.name, partitionResponses: topic.partitionData.map {
                .init(index: $0.index, errorCode: code.rawValue, baseOffset: -1, errorMessage: request.version >= 8 ? message : nil)
            })
        }
        return request.respond(ProduceResponse(responses: topics))
    }
}

/// Kafka error codes for storage failures (`StorageError.kafkaCode`); anything else is
/// UNKNOWN_SERVER_ERROR.
enum StorageErrorMapping {
    static func code(for error: any Error) -> KafkaErrorCode {
        (error as? StorageError)?.kafkaCode ?? .unknownServerError
    }
}
