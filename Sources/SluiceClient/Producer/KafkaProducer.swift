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
    public let deliveryReports: DeliveryReports
    private let reports: AsyncStream<[DeliveryReport]>.Continuation
    let state = Mutex(ProducerState())
    let wakeups: AsyncStream<Void>.Continuation
    private let wakeupStream: AsyncStream<Void>
    let logger: Logger
    private let sender = Mutex<Task<Void, Never>?>(nil)

    static let produceVersions: ClosedRange<Int16> = 3...11

    public init(config: KafkaProducerConfig, logger: Logger = Logger(label: "sluice.producer")) throws {
        if config.enableIdempotence && config.acks != -1 {
            throw KafkaClientError(kind: .invalidArgument, message: "idempotence needs acks=-1 (all); set enableIdempotence=false for acks=\(config.acks)")
        }
        if let id = config.transactionalId {
            guard config.enableIdempotence else {
                throw KafkaClientError(kind: .invalidArgument, message: "a transactional producer needs idempotence (enableIdempotence=true)")
            }
            guard !id.isEmpty else { throw KafkaClientError(kind: .invalidArgument, message: "the transactional id is empty") }
        }
        self.config = config
        self.logger = logger
        cluster = KafkaCluster(config: config.client, logger: logger)
        let (batches, reports) = AsyncStream.makeStream(of: [DeliveryReport].self)
        deliveryReports = DeliveryReports(batches: batches)
        self.reports = reports
        (wakeupStream, wakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        if config.transactionalId != nil { state.withLock { $0.transaction = TransactionProgress() } }
        let task = Task { [self] in await runSender() }
        sender.withLock { $0 = task }
    }

    // MARK: Sending

    /// Sends a record and waits for its acknowledgement.
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        try await learnPartitionCount(of: record.topic)
        try await waitForSpace()
        return try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { $0.append(record, completion: .awaiting(continuation), config: config) }
            switch outcome {
            case .appended(_, let wake):
                if wake { wakeups.yield() }
            case .failed(let error):
                continuation.resume(throwing: error)
            case .unknownTopic, .full:
                continuation.resume(throwing: KafkaClientError(kind: .invalidArgument, message: "cannot queue a record for \(record.topic)"))
            }
        }
    }

    /// Queues a record without waiting, like librdkafka's `produce()`: its id, or nil when the
    /// buffer is full or the topic's partition count is not known yet (then `enqueue`, which
    /// waits for both). A synchronous call costs less than an `async` one in a tight loop.
    public func tryEnqueue(_ record: ProducerRecord) throws -> UInt64? {
        switch state.withLock({ $0.append(record, completion: nil, config: config) }) {
        case .appended(let id, let wake):
            if wake { wakeups.yield() }
            return id
        case .failed(let error):
            throw error
        case .unknownTopic, .full:
            return nil
        }
    }

    /// Queues a record and returns its id; its outcome arrives on `deliveryReports`. Ids are
    /// consecutive from 1 in the order `enqueue` (or `tryEnqueue`) calls return.
    @discardableResult
    public func enqueue(_ record: ProducerRecord) async throws -> UInt64 {
        while true {
            if let id = try tryEnqueue(record) { return id }
            // Not queued: the topic's partition count is unknown, or the buffer is full.
            try await learnPartitionCount(of: record.topic)
            try await waitForSpace()
        }
    }

    /// Counters since the producer started.
    public var statistics: ProducerStatistics { state.withLock { $0.statistics } }

    /// Sends everything queued now and waits until all of it is acknowledged or failed.
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

    private func learnPartitionCount(of topic: String) async throws {
        guard state.withLock({ $0.topics[topic] }) == nil else { return }
        let metadata = try await cluster.topic(topic, allowAutoCreate: config.allowAutoCreateTopics)
        state.withLock { state in
            if state.topics[topic] == nil { state.topics[topic] = TopicQueues(name: topic, partitionCount: metadata.partitions.count) }
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

    // MARK: The sender

    private func runSender() async {
        // A transactional producer gets its id from initTransactions, before any record.
        var producerIdReady = !config.enableIdempotence || config.transactionalId != nil
        // One iterator for the sender's life, and one timer at a time: a new timer only when
        // the earliest deadline moves earlier (arming one per wakeup costs more than the work).
        var wakeupIterator = wakeupStream.makeAsyncIterator()
        var timer: (deadline: ContinuousClock.Instant, task: Task<Void, Never>)?
        defer { timer?.task.cancel() }
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
            var (work, nextDeadline, finished) = collectWork()
            if finished { return }
            if work.isEmpty {
                if let nextDeadline, timer.map({ nextDeadline < $0.deadline || $0.deadline <= .now }) ?? true {
                    timer?.task.cancel()
                    let wakeups = self.wakeups
                    timer = (nextDeadline, Task {
                        try? await Task.sleep(until: nextDeadline)
                        if !Task.isCancelled { wakeups.yield() }
                    })
                }
                _ = await wakeupIterator.next()
                continue
            }
            if config.transactionalId != nil { await addPartitionsToTransaction(&work) }
            await dispatch(&work)
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
            for topic in state.topics.values {
                for index in topic.partitions.indices where topic.partitions[index].hasWork {
                    let key = TopicPartition(topic.name, Int32(index))
                    let flushing = state.flushRequested || state.closed
                    if let open = topic.partitions[index].open {
                        if flushing || now - open.createdAt >= linger {
                            topic.partitions[index].sealOpen()
                            if topic.sticky == key.partition { topic.sticky = nil }
                        } else {
                            let deadline = open.createdAt + linger
                            nextDeadline = min(nextDeadline ?? deadline, deadline)
                        }
                    }
                    let allowed = topic.partitions[index].retrying ? 1 : limit
                    while topic.partitions[index].inFlight < allowed, let first = topic.partitions[index].ready.first {
                        if let notBefore = first.notBefore, notBefore > now {
                            nextDeadline = min(nextDeadline ?? notBefore, notBefore)
                            break
                        }
                        var batch = topic.partitions[index].ready.removeFirst()
                        if batch.sequence == nil && config.enableIdempotence {
                            batch.sequence = topic.partitions[index].nextSequence
                            topic.partitions[index].nextSequence &+= Int32(batch.records.count)
                        }
                        topic.partitions[index].inFlight += 1
                        work.append(InFlightBatch(partition: key, batch: batch, producerId: state.producerId, producerEpoch: state.producerEpoch))
                    }
                }
            }
            if state.buffered == 0 { state.flushRequested = false }
            return (work, nextDeadline, false)
        }
    }

    /// Groups the batches by leader and sends one Produce request per leader.
    /// Groups the batches by leader and sends them, at most one batch per partition in a
    /// request (as Kafka expects: its broker reads a request's partitions as a map), further
    /// batches of a partition in the requests after it.
    private func dispatch(_ work: inout [InFlightBatch]) async {
        var byLeader: [Int32: [[InFlightBatch]]] = [:]
        var round: [TopicPartition: Int] = [:]
        for index in work.indices {
            do {
                let partition = work[index].partition
                let topic = try await cluster.topic(partition.topic, allowAutoCreate: config.allowAutoCreateTopics)
                guard let leader = topic.partitions.first(where: { $0.index == partition.partition })?.leader, leader >= 0 else {
                    throw KafkaClientError.broker(.leaderNotAvailable, "\(partition)")
                }
                if work[index].batch.encoded == nil {
                    work[index].batch.encoded = try encode(&work[index])
                }
                let nth = round[partition, default: 0]
                round[partition] = nth + 1
                var requests = byLeader[leader] ?? []
                byLeader[leader] = nil
                if requests.count <= nth { requests.append([]) }
                requests[nth].append(work[index])
                byLeader[leader] = requests
            } catch {
                finish(work[index], with: .retry(error as? KafkaClientError ?? KafkaClientError(kind: .connection, message: "\(error)")))
            }
        }
        work.removeAll()
        for (leader, requests) in byLeader {
            // Written here, in the sender's order, so a partition's pipelined batches reach the
            // broker in sequence; only the wait for the answer runs on its own task.
            for batches in requests { await sendProduce(to: leader, batches) }
        }
    }

    /// Finishes the batch's builder, taking it out of the batch first so an uncompressed batch
    /// is completed in its own buffer without a copy.
    private func encode(_ item: inout InFlightBatch) throws -> ByteBuffer {
        var builder = item.batch.builder
        item.batch.builder = RecordBatchBuilder(initialCapacity: 0)
        if let sequence = item.batch.sequence {
            builder.producerId = item.producerId
            builder.producerEpoch = item.producerEpoch
            builder.baseSequence = sequence
            if config.transactionalId != nil {
                builder.attributes = RecordBatchAttributes(rawValue: builder.attributes.rawValue | 0x10)
            }
        }
        return try builder.finish(compressionLevel: config.compressionLevel)
    }

    private func sendProduce(to leader: Int32, _ batches: [InFlightBatch]) async {
        let request = ProduceRequest(
            transactionalId: config.transactionalId, acks: config.acks, timeoutMs: Int32(clamping: config.client.requestTimeout.milliseconds),
            topicData: Dictionary(grouping: batches, by: \.partition.topic).map { topic, items in
                .init(name: topic, partitionData: items.map { .init(index: $0.partition.partition, records: $0.batch.encoded) })
            })
        let pending: PendingResponse<ProduceResponse>
        do {
            let connection = try await cluster.connection(toNode: leader)
            let version = try connection.version(for: .produce, clientRange: Self.produceVersions)
            if config.acks == 0 {
                try await connection.sendWithoutResponse(request, version: version)
                for item in batches { finish(item, with: .success(baseOffset: -1, logAppendTime: -1)) }
                return
            }
            pending = try connection.start(request, version: version, timeout: config.client.requestTimeout + .seconds(5))
        } catch {
            await failed(batches, error)
            return
        }
        Task { await self.handleProduceResponse(pending, batches) }
    }

    private func failed(_ batches: [InFlightBatch], _ error: any Error) async {
        let clientError = error as? KafkaClientError ?? KafkaClientError(kind: .connection, message: "\(error)")
        await cluster.invalidate(topic: batches.first?.partition.topic ?? "")
        for item in batches { finish(item, with: clientError.isRetriable ? .retry(clientError) : .failure(clientError)) }
    }

    private func handleProduceResponse(_ pending: PendingResponse<ProduceResponse>, _ batches: [InFlightBatch]) async {
        do {
            let response = try await pending.response()
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
                case .outOfOrderSequenceNumber where state.withLock({ $0.queue(item.partition)?.retrying ?? false }):
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
            await failed(batches, error)
        }
    }

    enum Outcome {
        case success(baseOffset: Int64, logAppendTime: Int64)
        case retry(KafkaClientError)
        case failure(KafkaClientError)
    }

    func finish(_ item: InFlightBatch, with outcome: Outcome) {
        let deliveryTimeout = config.deliveryTimeout
        let backoff = config.client.retryBackoff
        // Under the lock only the queue's bookkeeping; the reports are made after it.
        let final = state.withLock { state -> Outcome? in
            guard let topic = state.topics[item.partition.topic],
                  topic.partitions.indices.contains(Int(item.partition.partition)) else { return outcome }
            var queue = topic.partitions[Int(item.partition.partition)]
            topic.partitions[Int(item.partition.partition)] = PartitionQueue()
            defer { topic.partitions[Int(item.partition.partition)] = queue }
            queue.inFlight -= 1
            var outcome = outcome
            if case .retry(let error) = outcome, ContinuousClock.now - item.batch.createdAt >= deliveryTimeout {
                outcome = .failure(KafkaClientError(kind: .timeout, message: "delivery timed out; last error: \(error)"))
            }
            switch outcome {
            case .success:
                queue.retrying = queue.ready.contains { $0.attempts > 0 }
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
                state.transaction?.recordFailure(error, hadSequence: item.batch.sequence != nil)
            }
            if case .retry = outcome { return nil }
            return outcome
        }
        if let final { report(item.batch.records, of: item.partition, final) }
        // Only now, with the reports out, do these records stop counting as buffered: a flush
        // (and close, which ends the report stream) must not finish while another task is
        // still building its reports.
        release(final == nil ? 0 : item.batch.records.count)
    }

    /// Delivers a batch's outcome: a report per `enqueue`d record, an answer per `send`.
    func report(_ records: BatchRecords, of partition: TopicPartition, _ final: Outcome) {
        // A copy of the topic's name per batch: reports made on this thread then retain
        // their own string, not the one the application's thread retains per record.
        let topicName = String(decoding: Array(partition.topic.utf8), as: UTF8.self)
        var delivered: [DeliveryReport] = []
        delivered.reserveCapacity(records.count - records.awaiting.count)
        for index in 0..<records.count {
            let result: Result<RecordMetadata, KafkaClientError>
            switch final {
            case .success(let baseOffset, let logAppendTime):
                result = .success(RecordMetadata(
                    topic: topicName, partition: partition.partition,
                    offset: baseOffset < 0 ? -1 : baseOffset + Int64(index),
                    timestamp: logAppendTime >= 0 ? logAppendTime : records.timestamps[index]))
            case .failure(let error):
                result = .failure(error)
            case .retry:
                continue
            }
            let id = records.ids[index]
            if id != 0 {
                delivered.append(DeliveryReport(id: id, result: result))
            } else if let continuation = records.awaiting[index] {
                continuation.resume(with: result)
            }
        }
        if !delivered.isEmpty { reports.yield(delivered) }
    }

    /// `completedCount` records no longer count as buffered: wakes what waits for room or for
    /// a flush.
    func release(_ completedCount: Int) {
        var resumeSpace: [CheckedContinuation<Bool, Never>] = []
        var resumeFlush: [CheckedContinuation<Void, Never>] = []
        state.withLock { state in
            state.buffered -= completedCount
            if state.buffered < config.maxBufferedRecords {
                resumeSpace = state.spaceWaiters
                state.spaceWaiters.removeAll()
            }
            if state.buffered == 0 {
                resumeFlush = state.flushWaiters
                state.flushWaiters.removeAll()
            }
        }
        resumeSpace.forEach { $0.resume(returning: true) }
        resumeFlush.forEach { $0.resume() }
        wakeups.yield()
    }
}
