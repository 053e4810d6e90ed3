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
        if body.transactionalId != nil {
            return respond(request, body: body, code: .transactionalIdAuthorizationFailed, message: "transactions are not supported yet")
        }
        if request.version < 3 {
            return respond(request, body: body, code: .unsupportedVersion,
                           message: "Produce v0-2 (message format v0/v1) is not supported; use v3 or later")
        }
        var appends: [EventLoopFuture<PartitionResult>] = []
        for topicData in body.topicData {
            let topic = broker.registry.topic(named: topicData.name)
            for partitionData in topicData.partitionData {
                guard let topic, partitionData.index >= 0, Int(partitionData.index) < topic.partitions.count else {
                    appends.append(eventLoop.makeSucceededFuture(
                        PartitionResult(topic: topicData.name, index: partitionData.index, code: .unknownTopicOrPartition,
                                        message: "This server does not host this topic-partition.")))
                    continue
                }
                let partition = topic.partitions[Int(partitionData.index)]
                var batch: RecordBatch
                let now = broker.nowMs()
                switch ProduceValidator.validate(partitionData.records, produceVersion: request.version, maxMessageBytes: topic.maxMessageBytes,
                                                 timestamps: ProduceValidator.TimestampBounds(topic, nowMs: now)) {
                case .failure(let rejection):
                    broker.logger.warning("rejected produce", metadata: [
                        "topic": "\(topicData.name)", "partition": "\(partitionData.index)", "error": "\(rejection.code.rawValue)",
                        "reason": "\(rejection.recordErrors.first?.message ?? rejection.message)"])
                    appends.append(eventLoop.makeSucceededFuture(
                        PartitionResult(topic: topicData.name, index: partitionData.index, code: rejection.code, message: rejection.message,
                                        recordErrors: rejection.recordErrors)))
                    continue
                case .success(let valid):
                    batch = valid
                }
                if let target = topic.requiredCompression {
                    if batch.header.attributes.compression != target {
                        do {
                            var rebuilt = try ProduceValidator.recompress(batch, to: target, level: topic.resolved.compressionLevel)
                            batch = try RecordBatch.next(from: &rebuilt)!
                        } catch {
                            appends.append(eventLoop.makeSucceededFuture(
                                PartitionResult(topic: topicData.name, index: partitionData.index, code: .corruptMessage, message: "\(error)")))
                            continue
                        }
                    }
                }
                broker.metrics.recordsIn.increment(by: Int64(batch.header.recordCount))
                appends.append(append(batch.bytes, to: partition, acks: body.acks, minInsyncReplicas: topic.resolved.minInsyncReplicas,
                                      timeoutMs: Int64(body.timeoutMs), now: now, on: eventLoop))
            }
        }
        if body.acks == 0 {
            // Kafka sends nothing for acks=0; a failure shows only in the broker's log.
            return eventLoop.makeSucceededFuture(nil)
        }
        // One partition, the common case for a latency-bound producer: no gathering step.
        let gathered = appends.count == 1
            ? appends[0].hop(to: eventLoop).map { [$0] }
            : EventLoopFuture.whenAllSucceed(appends, on: eventLoop)
        return gathered.flatMap { results in
            var byTopic: [String: [ProduceResponse.PartitionProduceResponse]] = [:]
            var order: [String] = []
            for result in results {
                if byTopic[result.topic] == nil { order.append(result.topic) }
                byTopic[result.topic, default: []].append(.init(
                    index: result.index, errorCode: result.code.rawValue, baseOffset: result.baseOffset,
                    logAppendTimeMs: result.logAppendTimeMs, logStartOffset: result.logStartOffset,
                    recordErrors: request.version >= 8 ? result.recordErrors.map { .init(batchIndex: $0.index, batchIndexErrorMessage: $0.message) } : [],
                    errorMessage: result.code == .none || request.version < 8 ? nil : result.message))
            }
            let response = ProduceResponse(responses: order.map { .init(name: $0, partitionResponses: byTopic[$0]!) })
            return request.respond(response)
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
                       now: Int64, on eventLoop: any EventLoop) -> EventLoopFuture<PartitionResult> {
        let owner = (partition.owner as? EventLoopOwner)?.eventLoop ?? eventLoop
        let promise = owner.makePromise(of: PartitionResult.self)
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
        return promise.futureResult
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

/// Kafka error codes for storage failures.
enum StorageErrorMapping {
    static func code(for error: any Error) -> KafkaErrorCode {
        guard let storage = error as? StorageError else { return .unknownServerError }
        switch storage {
        case .diskFull, .io, .offline, .corrupt, .directoryLocked, .shutDown: return .kafkaStorageError
        case .offsetOutOfRange: return .offsetOutOfRange
        case .invalidBatch: return .corruptMessage
        case .outOfOrderSequence: return .outOfOrderSequenceNumber
        case .invalidProducerEpoch: return .invalidProducerEpoch
        }
    }
}
