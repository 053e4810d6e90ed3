import KafkaProtocol
import Logging
import NIOCore
import Synchronization

/// A Kafka producer: records are batched per partition (by `linger` and `batchSize`),
/// compressed, and sent to each partition's leader; with idempotence (the default) retries
/// keep every record exactly once and in order.
///
/// `send` waits for the acknowledgement; `enqueue` returns at once and the outcome arrives on
/// `deliveryReports`. Both wait when `maxBufferedRecords` are unacknowledged.
public final class KafkaProducer: Sendable {
    public let config: KafkaProducerConfig
    public let cluster: KafkaCluster
    /// Outcomes of records sent with `enqueue`, in the order they were acknowledged per partition.
    public let deliveryReports: AsyncStream<DeliveryReport>
    private let reports: AsyncStream<DeliveryReport>.Continuation
    private let state = Mutex(ProducerState())
    private let wakeups: AsyncStream<Void>.Continuation
    private let wakeupStream: AsyncStream<Void>
    private let logger: Logger
    private let sender = Mutex<Task<Void, Never>?>(nil)

    static let produceVersions: ClosedRange<Int16> = 3...11

    public init(config: KafkaProducerConfig, logger: Logger = Logger(label: "sluice.producer")) throws {
        if config.enableIdempotence && config.acks != -1 {
            throw KafkaClientError(kind: .invalidArgument, message: "idempotence needs acks=-1 (all); set enableIdempotence=false for acks=\(config.acks)")
        }
        self.config = config
        self.logger = logger
        cluster = KafkaCluster(config: config.client, logger: logger)
        (deliveryReports, reports) = AsyncStream.makeStream(of: DeliveryReport.self)
        (wakeupStream, wakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let task = Task { [self] in await runSender() }
        sender.withLock { $0 = task }
    }

    // MARK: Sending

    /// Sends a record and waits for its acknowledgement.
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        let partition = try await partition(for: record)
        try await waitForSpace()
        return try await withCheckedThrowingContinuation { continuation in
            append(record, partition: partition, completion: .awaiting(continuation))
        }
    }

    /// Queues a record and returns its id; its outcome arrives on `deliveryReports`.
    @discardableResult
    public func enqueue(_ record: ProducerRecord) async throws -> UInt64 {
        let partition = try await partition(for: record)
        try await waitForSpace()
        let id = state.withLock { state in
            state.nextId += 1
            return state.nextId
        }
        append(record, partition: partition, completion: .report(id))
        return id
    }

    /// Sends everything queued now and waits until all of it is acknowledged or failed.
    /// Counters since the producer started.
    public var statistics: ProducerStatistics { state.withLock { $0.statistics } }

    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.buffered == 0 { return true }
                state.flushRequested = true
                state.flushWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() } else { wakeups.yield() }
        }
    }

    /// Flushes, then stops the sender and closes the connections.
    public func close() async {
        await flush()
        state.withLock { $0.closed = true }
        wakeups.yield()
        await sender.withLock { $0 }?.value
        reports.finish()
        await cluster.close()
    }

    private func partition(for record: ProducerRecord) async throws -> Int32 {
        let count: Int32
        if let cached = state.withLock({ $0.partitionCounts[record.topic] }) {
            count = cached
        } else {
            let metadata = try await cluster.topic(record.topic, allowAutoCreate: config.allowAutoCreateTopics)
            count = Int32(metadata.partitions.count)
            state.withLock { $0.partitionCounts[record.topic] = count }
        }
        if let partition = record.partition {
            guard partition >= 0, partition < count else {
                throw KafkaClientError.broker(.unknownTopicOrPartition, "\(record.topic) has \(count) partitions, not \(partition + 1)")
            }
            return partition
        }
        if let key = record.key { return Partitioner.partition(forKey: key, count: count) }
        return state.withLock { state in
            if let sticky = state.stickyPartitions[record.topic] { return sticky }
            let chosen = Int32.random(in: 0..<count)
            state.stickyPartitions[record.topic] = chosen
            return chosen
        }
    }

    private func waitForSpace() async throws {
        while true {
            // The usual case, room to spare: one lock, no continuation.
            let (closed, full) = state.withLock { ($0.closed, $0.buffered >= config.maxBufferedRecords) }
            if closed { throw KafkaClientError(kind: .shutdown, message: "producer closed") }
            if !full { return }
            let waited: Bool = await withCheckedContinuation { continuation in
                let full = state.withLock { state -> Bool in
                    guard state.buffered >= config.maxBufferedRecords else { return false }
                    state.spaceWaiters.append(continuation)
                    return true
                }
                if !full { continuation.resume(returning: false) }
            }
            if !waited { return }
        }
    }

    private func append(_ record: ProducerRecord, partition: Int32, completion: RecordCompletion) {
        let timestamp = record.timestamp ?? currentTimeMillis()
        let key = TopicPartition(record.topic, partition)
        let wake = state.withLock { state -> Bool in
            state.buffered += 1
            var queue = state.queues[key] ?? PartitionQueue()
            // A new batch brings a new linger deadline the sender must learn about.
            var opened = false
            if queue.open == nil {
                queue.open = OpenBatch(compression: config.compression, createdAt: .now)
                opened = true
            }
            queue.open!.builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: timestamp)
            queue.open!.records.append((completion, timestamp))
            var full = false
            if queue.open!.builder.estimatedSize >= config.batchSize {
                queue.sealOpen()
                full = true
                // The sticky partition moves on once its batch is full (KIP-480).
                if record.key == nil && record.partition == nil { state.stickyPartitions[record.topic] = nil }
            }
            state.queues[key] = queue
            return full || opened
        }
        if wake { wakeups.yield() }
    }

    // MARK: The sender

    private func runSender() async {
        var producerIdReady = !config.enableIdempotence
        while true {
            if !producerIdReady {
                do {
                    try await initProducerId()
                    producerIdReady = true
                } catch {
                    logger.warning("InitProducerId failed; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: config.client.retryBackoff)
                    if state.withLock({ $0.closed && $0.buffered == 0 }) { return }
                    continue
                }
            }
            let (work, nextDeadline, finished) = collectWork()
            if finished { return }
            if work.isEmpty {
                await waitForWakeup(until: nextDeadline)
                continue
            }
            await dispatch(work)
        }
    }

    private func initProducerId() async throws {
        let connection = try await cluster.anyConnection()
        let (response, _) = try await connection.send(InitProducerIdRequest(transactionTimeoutMs: Int32.max),
                                                      versions: 0...4, timeout: config.client.requestTimeout)
        guard response.errorCode == 0 else { throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode), "InitProducerId") }
        state.withLock {
            $0.producerId = response.producerId
            $0.producerEpoch = response.producerEpoch
        }
    }

    /// Seals batches whose linger passed (or all, when flushing) and takes what may be sent now.
    private func collectWork() -> ([InFlightBatch], ContinuousClock.Instant?, Bool) {
        let now = ContinuousClock.now
        let linger = config.linger
        let limit = config.enableIdempotence ? min(config.maxInFlightPerPartition, 5) : config.maxInFlightPerPartition
        return state.withLock { state in
            if state.closed && state.buffered == 0 { return ([], nil, true) }
            var work: [InFlightBatch] = []
            var nextDeadline: ContinuousClock.Instant?
            for key in Array(state.queues.keys) {
                guard var queue = state.queues[key] else { continue }
                if let open = queue.open {
                    if state.flushRequested || state.closed || now - open.createdAt >= linger {
                        queue.sealOpen()
                        if state.stickyPartitions[key.topic] == key.partition { state.stickyPartitions[key.topic] = nil }
                    } else {
                        let deadline = open.createdAt + linger
                        nextDeadline = min(nextDeadline ?? deadline, deadline)
                    }
                }
                let allowed = queue.retrying ? 1 : limit
                while queue.inFlight < allowed, let first = queue.ready.first {
                    if let notBefore = first.notBefore, notBefore > now {
                        nextDeadline = min(nextDeadline ?? notBefore, notBefore)
                        break
                    }
                    var batch = queue.ready.removeFirst()
                    if batch.sequence == nil && config.enableIdempotence {
                        batch.sequence = queue.nextSequence
                        queue.nextSequence &+= Int32(batch.records.count)
                    }
                    queue.inFlight += 1
                    work.append(InFlightBatch(partition: key, batch: batch, producerId: state.producerId, producerEpoch: state.producerEpoch))
                }
                if queue.isIdle { state.queues[key] = nil } else { state.queues[key] = queue }
            }
            if state.buffered == 0 { state.flushRequested = false }
            return (work, nextDeadline, false)
        }
    }

    private func waitForWakeup(until deadline: ContinuousClock.Instant?) async {
        let stream = wakeupStream
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                _ = await iterator.next()
            }
            if let deadline {
                group.addTask { try? await Task.sleep(until: deadline) }
            }
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Groups the batches by leader and sends one Produce request per leader.
    private func dispatch(_ work: [InFlightBatch]) async {
        var byLeader: [Int32: [InFlightBatch]] = [:]
        for var item in work {
            do {
                let topic = try await cluster.topic(item.partition.topic, allowAutoCreate: config.allowAutoCreateTopics)
                guard let leader = topic.partitions.first(where: { $0.index == item.partition.partition })?.leader, leader >= 0 else {
                    throw KafkaClientError.broker(.leaderNotAvailable, "\(item.partition)")
                }
                if item.batch.encoded == nil {
                    item.batch.encoded = try encode(item)
                }
                byLeader[leader, default: []].append(item)
            } catch {
                finish(item, with: .retry(error as? KafkaClientError ?? KafkaClientError(kind: .connection, message: "\(error)")))
            }
        }
        for (leader, batches) in byLeader {
            // Requests to different leaders go out concurrently; to one leader, in order.
            Task { await self.sendProduce(to: leader, batches) }
        }
    }

    private func encode(_ item: InFlightBatch) throws -> ByteBuffer {
        var builder = item.batch.builder
        if let sequence = item.batch.sequence {
            builder.producerId = item.producerId
            builder.producerEpoch = item.producerEpoch
            builder.baseSequence = sequence
        }
        return try builder.build(compressionLevel: config.compressionLevel)
    }

    private func sendProduce(to leader: Int32, _ batches: [InFlightBatch]) async {
        let request = ProduceRequest(
            acks: config.acks, timeoutMs: Int32(clamping: config.client.requestTimeout.milliseconds),
            topicData: Dictionary(grouping: batches, by: \.partition.topic).map { topic, items in
                .init(name: topic, partitionData: items.map { .init(index: $0.partition.partition, records: $0.batch.encoded) })
            })
        do {
            let connection = try await cluster.connection(toNode: leader)
            let version = try connection.version(for: .produce, clientRange: Self.produceVersions)
            if config.acks == 0 {
                try await connection.sendWithoutResponse(request, version: version)
                for item in batches { finish(item, with: .success(baseOffset: -1, logAppendTime: -1)) }
                return
            }
            let response = try await connection.send(request, version: version, timeout: config.client.requestTimeout + .seconds(5))
            var answers: [TopicPartition: ProduceResponse.PartitionProduceResponse] = [:]
            for topic in response.responses {
                for partition in topic.partitionResponses { answers[TopicPartition(topic.name, partition.index)] = partition }
            }
            for item in batches {
                guard let answer = answers[item.partition] else {
                    finish(item, with: .retry(KafkaClientError(kind: .protocolViolation, message: "no answer for \(item.partition)")))
                    continue
                }
                let code = KafkaErrorCode(rawValue: answer.errorCode)
                switch code {
                case .none:
                    finish(item, with: .success(baseOffset: answer.baseOffset, logAppendTime: answer.logAppendTimeMs))
                case .duplicateSequenceNumber:
                    // Already written by an earlier attempt; the broker no longer knows where.
                    finish(item, with: .success(baseOffset: -1, logAppendTime: -1))
                case .outOfOrderSequenceNumber where state.withLock({ $0.queues[item.partition]?.retrying ?? false }):
                    // An earlier batch of this partition is being retried; this one follows it.
                    finish(item, with: .retry(KafkaClientError.broker(code, answer.errorMessage)))
                default:
                    let error = KafkaClientError.broker(code, answer.errorMessage ?? "\(item.partition)")
                    if code.isRetriable {
                        await cluster.invalidate(topic: item.partition.topic)
                        finish(item, with: .retry(error))
                    } else {
                        finish(item, with: .failure(error))
                    }
                }
            }
        } catch {
            let clientError = error as? KafkaClientError ?? KafkaClientError(kind: .connection, message: "\(error)")
            await cluster.invalidate(topic: batches.first?.partition.topic ?? "")
            for item in batches { finish(item, with: clientError.isRetriable ? .retry(clientError) : .failure(clientError)) }
        }
    }

    private enum Outcome {
        case success(baseOffset: Int64, logAppendTime: Int64)
        case retry(KafkaClientError)
        case failure(KafkaClientError)
    }

    private func finish(_ item: InFlightBatch, with outcome: Outcome) {
        var completed: [(RecordCompletion, Result<RecordMetadata, KafkaClientError>)] = []
        var resumeSpace: [CheckedContinuation<Bool, Never>] = []
        var resumeFlush: [CheckedContinuation<Void, Never>] = []
        let deliveryTimeout = config.deliveryTimeout
        let backoff = config.client.retryBackoff
        state.withLock { state in
            var queue = state.queues[item.partition] ?? PartitionQueue()
            queue.inFlight -= 1
            var outcome = outcome
            if case .retry(let error) = outcome, ContinuousClock.now - item.batch.createdAt >= deliveryTimeout {
                outcome = .failure(KafkaClientError(kind: .timeout, message: "delivery timed out; last error: \(error)"))
            }
            switch outcome {
            case .success(let baseOffset, let logAppendTime):
                queue.retrying = queue.ready.contains { $0.attempts > 0 }
                for (index, record) in item.batch.records.enumerated() {
                    let metadata = RecordMetadata(topic: item.partition.topic, partition: item.partition.partition,
                                                  offset: baseOffset < 0 ? -1 : baseOffset + Int64(index),
                                                  timestamp: logAppendTime >= 0 ? logAppendTime : record.timestamp)
                    completed.append((record.completion, .success(metadata)))
                }
            case .retry:
                var batch = item.batch
                batch.attempts += 1
                batch.notBefore = .now + backoff
                // Back in sequence order, ahead of what was never sent.
                let position = queue.ready.firstIndex { other in
                    guard let mine = batch.sequence, let theirs = other.sequence else { return other.sequence == nil }
                    return theirs > mine
                } ?? queue.ready.endIndex
                queue.ready.insert(batch, at: position)
                state.statistics.batchesRetried += 1
                if config.enableIdempotence { queue.retrying = true }
            case .failure(let error):
                for record in item.batch.records { completed.append((record.completion, .failure(error))) }
            }
            state.queues[item.partition] = queue.isIdle ? nil : queue
            state.buffered -= completed.count
            if state.buffered < config.maxBufferedRecords {
                resumeSpace = state.spaceWaiters
                state.spaceWaiters.removeAll()
            }
            if state.buffered == 0 {
                resumeFlush = state.flushWaiters
                state.flushWaiters.removeAll()
            }
        }
        for (completion, result) in completed {
            switch completion {
            case .awaiting(let continuation): continuation.resume(with: result)
            case .report(let id): reports.yield(DeliveryReport(id: id, result: result))
            }
        }
        resumeSpace.forEach { $0.resume(returning: true) }
        resumeFlush.forEach { $0.resume() }
        wakeups.yield()
    }
}

// MARK: - State

enum RecordCompletion: Sendable {
    case awaiting(CheckedContinuation<RecordMetadata, any Error>)
    case report(UInt64)
}

struct OpenBatch {
    var builder: RecordBatchBuilder
    var records: [(completion: RecordCompletion, timestamp: Int64)] = []
    let createdAt: ContinuousClock.Instant

    init(compression: CompressionCodec, createdAt: ContinuousClock.Instant) {
        builder = RecordBatchBuilder(compression: compression)
        self.createdAt = createdAt
    }
}

struct SealedBatch {
    var builder: RecordBatchBuilder
    var records: [(completion: RecordCompletion, timestamp: Int64)]
    let createdAt: ContinuousClock.Instant
    /// Assigned when first sent (idempotence), kept across retries.
    var sequence: Int32?
    var encoded: ByteBuffer?
    var attempts = 0
    var notBefore: ContinuousClock.Instant?
}

struct InFlightBatch: @unchecked Sendable {
    // @unchecked: the continuations inside are Sendable; the builder's buffers are owned here.
    let partition: TopicPartition
    var batch: SealedBatch
    let producerId: Int64
    let producerEpoch: Int16
}

struct PartitionQueue {
    var open: OpenBatch?
    var ready: [SealedBatch] = []
    var inFlight = 0
    var nextSequence: Int32 = 0
    /// A batch is being retried: send one at a time until it lands, so order holds.
    var retrying = false

    mutating func sealOpen() {
        guard let open else { return }
        ready.append(SealedBatch(builder: open.builder, records: open.records, createdAt: open.createdAt))
        self.open = nil
    }

    /// Nothing left to remember, but for the sequence, which must survive (idempotence).
    var isIdle: Bool { open == nil && ready.isEmpty && inFlight == 0 && nextSequence == 0 }
}

struct ProducerState {
    var queues: [TopicPartition: PartitionQueue] = [:]
    var partitionCounts: [String: Int32] = [:]
    var stickyPartitions: [String: Int32] = [:]
    var nextId: UInt64 = 0
    var buffered = 0
    var statistics = ProducerStatistics()
    var flushRequested = false
    var flushWaiters: [CheckedContinuation<Void, Never>] = []
    var spaceWaiters: [CheckedContinuation<Bool, Never>] = []
    var closed = false
    var producerId: Int64 = -1
    var producerEpoch: Int16 = -1
}
