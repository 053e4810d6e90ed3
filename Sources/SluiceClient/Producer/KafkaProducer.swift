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
        let (batches, reports) = AsyncStream.makeStream(of: [DeliveryReport].self)
        deliveryReports = DeliveryReports(batches: batches)
        self.reports = reports
        (wakeupStream, wakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
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
        var producerIdReady = !config.enableIdempotence
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
        }
        return try builder.finish(compressionLevel: config.compressionLevel)
    }

    private func sendProduce(to leader: Int32, _ batches: [InFlightBatch]) async {
        let request = ProduceRequest(
            acks: config.acks, timeoutMs: Int32(clamping: config.client.requestTimeout.milliseconds),
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

    private enum Outcome {
        case success(baseOffset: Int64, logAppendTime: Int64)
        case retry(KafkaClientError)
        case failure(KafkaClientError)
    }

    private func finish(_ item: InFlightBatch, with outcome: Outcome) {
        var resumeSpace: [CheckedContinuation<Bool, Never>] = []
        var resumeFlush: [CheckedContinuation<Void, Never>] = []
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
            case .failure:
                break
            }
            if case .retry = outcome { return nil }
            return outcome
        }
        if let final {
            let records = item.batch.records
            // A copy of the topic's name per batch: reports made on this thread then retain
            // their own string, not the one the application's thread retains per record.
            let topicName = String(decoding: Array(item.partition.topic.utf8), as: UTF8.self)
            var delivered: [DeliveryReport] = []
            delivered.reserveCapacity(records.count - records.awaiting.count)
            for index in 0..<records.count {
                let result: Result<RecordMetadata, KafkaClientError>
                switch final {
                case .success(let baseOffset, let logAppendTime):
                    result = .success(RecordMetadata(
                        topic: topicName, partition: item.partition.partition,
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
        // Only now, with the reports out, do these records stop counting as buffered: a flush
        // (and close, which ends the report stream) must not finish while another task is
        // still building its reports.
        let completedCount = final == nil ? 0 : item.batch.records.count
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

/// The records of one batch, as the producer tracks them until they are acknowledged: plain
/// arrays (delivery id, timestamp), with the rare `send` continuations kept aside.
struct BatchRecords {
    /// Delivery ids of `enqueue`d records; 0 for records sent with `send`.
    var ids: [UInt64] = []
    var timestamps: [Int64] = []
    var awaiting: [Int: CheckedContinuation<RecordMetadata, any Error>] = [:]

    var count: Int { ids.count }

    mutating func append(_ completion: RecordCompletion, timestamp: Int64) {
        switch completion {
        case .report(let id):
            ids.append(id)
        case .awaiting(let continuation):
            awaiting[ids.count] = continuation
            ids.append(0)
        }
        timestamps.append(timestamp)
    }
}

// MARK: - State

enum RecordCompletion: Sendable {
    case awaiting(CheckedContinuation<RecordMetadata, any Error>)
    case report(UInt64)
}

/// The batch records are being added to. A class: as a struct inside `PartitionQueue.open`,
/// Swift copied the whole batch (a retain and release of each of its buffers and arrays) on
/// most accesses through the optional, for every record; a reference is retained at most once.
/// Its contents are one stored property so that adding a record costs one exclusivity check.
final class OpenBatch {
    struct Contents {
        var builder: RecordBatchBuilder
        var records = BatchRecords()

        /// Adds a record; returns the batch's size as it would be sent uncompressed.
        mutating func append(_ record: ProducerRecord, completion: RecordCompletion, timestamp: Int64) -> Int {
            builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: timestamp)
            records.append(completion, timestamp: timestamp)
            return builder.estimatedSize
        }
    }

    var contents: Contents
    let createdAt: ContinuousClock.Instant

    init(compression: CompressionCodec, createdAt: ContinuousClock.Instant, batchSize: Int) {
        // Room for a whole batch up to 128 KiB; larger ones grow (many partitions may be open).
        contents = Contents(builder: RecordBatchBuilder(compression: compression,
                                                        initialCapacity: min(batchSize, 128 << 10) + RecordBatchHeader.size))
        self.createdAt = createdAt
    }

    func append(_ record: ProducerRecord, completion: RecordCompletion, timestamp: Int64) -> Int {
        contents.append(record, completion: completion, timestamp: timestamp)
    }
}

struct SealedBatch {
    var builder: RecordBatchBuilder
    var records: BatchRecords
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
        guard let open = open.take() else { return }
        ready.append(SealedBatch(builder: open.contents.builder, records: open.contents.records, createdAt: open.createdAt))
    }

    /// A batch open or waiting to be sent.
    var hasWork: Bool { open != nil || !ready.isEmpty }
}

enum AppendOutcome {
    /// Queued; `wake` when the sender must look (a new linger deadline, or a full batch).
    case appended(id: UInt64, wake: Bool)
    case unknownTopic
    case full
    case failed(KafkaClientError)
}

struct ProducerState {
    /// The queues of every topic produced to, created once its partition count is known.
    var topics: [String: TopicQueues] = [:]
    /// The topic of the last record: most producers write one topic, and this skips hashing it.
    var lastTopic: TopicQueues?
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

/// One topic's partition queues. A class so the hot path can keep a reference to the last
/// topic and mutate its queues in place; only touched under the producer's lock.
final class TopicQueues {
    let name: String
    var partitions: [PartitionQueue]
    /// The partition unkeyed records go to until its batch is sealed (KIP-480).
    var sticky: Int32?

    init(name: String, partitionCount: Int) {
        self.name = name
        partitions = Array(repeating: PartitionQueue(), count: max(partitionCount, 1))
    }
}

extension ProducerState {
    func queue(_ partition: TopicPartition) -> PartitionQueue? {
        guard let topic = topics[partition.topic], topic.partitions.indices.contains(Int(partition.partition)) else { return nil }
        return topic.partitions[Int(partition.partition)]
    }

    /// Partitions and queues one record, mutating the partition's open batch in place. A nil
    /// `completion` means `enqueue`: the record gets the next id and counts against the buffer.
    mutating func append(_ record: ProducerRecord, completion: RecordCompletion?, config: KafkaProducerConfig) -> AppendOutcome {
        if closed { return .failed(KafkaClientError(kind: .shutdown, message: "producer closed")) }
        if completion == nil && buffered >= config.maxBufferedRecords { return .full }
        let topic: TopicQueues
        if let last = lastTopic, last.name == record.topic {
            topic = last
        } else if let known = topics[record.topic] {
            topic = known
            lastTopic = known
        } else {
            return .unknownTopic
        }
        let count = Int32(topic.partitions.count)
        let partition: Int32
        if let chosen = record.partition {
            guard chosen >= 0, chosen < count else {
                return .failed(.broker(.unknownTopicOrPartition, "\(record.topic) has \(count) partitions (0 to \(count - 1)); there is no partition \(chosen)"))
            }
            partition = chosen
        } else if let key = record.key {
            partition = Partitioner.partition(forKey: key, count: count)
        } else if let sticky = topic.sticky {
            partition = sticky
        } else {
            partition = Int32.random(in: 0..<count)
            topic.sticky = partition
        }
        let id: UInt64
        let recordCompletion: RecordCompletion
        if let completion {
            id = 0
            recordCompletion = completion
        } else {
            nextId += 1
            id = nextId
            recordCompletion = .report(id)
        }
        buffered += 1
        let timestamp = record.timestamp ?? currentTimeMillis()
        let (opened, sealed) = topic.partitions[Int(partition)]
            .append(record, completion: recordCompletion, timestamp: timestamp, config: config)
        // The sticky partition moves on once its batch is full (KIP-480).
        if sealed && record.key == nil && record.partition == nil { topic.sticky = nil }
        return .appended(id: id, wake: opened || sealed)
    }
}

extension PartitionQueue {
    /// Adds a record to the open batch (opening one, with its linger deadline, if needed) and
    /// seals the batch once it reaches `batchSize`.
    mutating func append(_ record: ProducerRecord, completion: RecordCompletion, timestamp: Int64,
                         config: KafkaProducerConfig) -> (opened: Bool, sealed: Bool) {
        let batch: OpenBatch
        let opened: Bool
        if let open {
            batch = open
            opened = false
        } else {
            batch = OpenBatch(compression: config.compression, createdAt: .now, batchSize: config.batchSize)
            open = batch
            opened = true
        }
        let size = batch.append(record, completion: completion, timestamp: timestamp)
        guard size >= config.batchSize else { return (opened, false) }
        sealOpen()
        return (opened, true)
    }
}
