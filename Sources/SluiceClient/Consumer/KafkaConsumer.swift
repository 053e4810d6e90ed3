import KafkaProtocol
import Logging
import NIOCore
import Synchronization

/// A Kafka consumer of assigned partitions: fetches run ahead of the application (up to
/// `maxPrefetchedRecords`), records arrive in order per partition on `records`, positions move
/// as the application takes them, and `commit` stores them for the group.
public final class KafkaConsumer: Sendable {
    public let config: KafkaConsumerConfig
    public let cluster: KafkaCluster
    private let state = Mutex(ConsumerState())
    private let stream: AsyncStream<Delivery>
    private let deliveries: AsyncStream<Delivery>.Continuation
    /// Wakes the fetcher when there may be new work (an assignment, a seek, room to prefetch).
    private let wakeup = WakeupSignal()
    private let fetcher = Mutex<Task<Void, Never>?>(nil)
    private let logger: Logger
    private let membership = Mutex<(GroupMembership, Task<Void, Never>)?>(nil)
    /// The last background commit; the next one waits for it, so commits keep their order.
    private let backgroundCommit = Mutex<Task<Void, Never>?>(nil)
    /// Rebalances of a subscribed consumer: partitions revoked and assigned.
    public let events: AsyncStream<ConsumerEvent>
    private let eventContinuation: AsyncStream<ConsumerEvent>.Continuation

    static let fetchVersions: ClosedRange<Int16> = 4...12

    public init(config: KafkaConsumerConfig, logger: Logger = Logger(label: "sluice.consumer")) {
        self.config = config
        self.logger = logger
        cluster = KafkaCluster(config: config.client, logger: logger)
        (stream, deliveries) = AsyncStream.makeStream(of: Delivery.self)
        (events, eventContinuation) = AsyncStream.makeStream(of: ConsumerEvent.self)
        let task = Task { [self] in await runFetcher() }
        fetcher.withLock { $0 = task }
    }

    // MARK: Subscription

    /// Joins `groupId` (classic protocol, with `assignmentStrategies`) and consumes what the
    /// group assigns; rebalances arrive on `events`.
    public func subscribe(topics: [String]) async throws {
        guard let group = config.groupId else {
            throw KafkaClientError(kind: .invalidArgument, message: "subscribe needs a groupId")
        }
        let member = GroupMembership(consumer: self, group: group, topics: topics, config: config, logger: logger,
                                     events: eventContinuation)
        let task = Task { await member.run() }
        let previous = membership.withLock { state -> (GroupMembership, Task<Void, Never>)? in
            defer { state = (member, task) }
            return state
        }
        if let previous { await Self.end(previous.0, previous.1, within: config.client.requestTimeout) }
    }

    /// Stops a membership, lets a join in flight finish (bounded), then leaves the group.
    private static func end(_ member: GroupMembership, _ task: Task<Void, Never>, within limit: Duration) async {
        await member.stop()
        task.cancel()
        // Not a task group: its end would wait for both children, and the join may not answer.
        let finished = WakeupSignal()
        Task { await task.value; finished.signal() }
        await finished.wait(timeout: limit)
        await member.leave()
    }

    /// What a commit without explicit offsets stores: the positions reached, or, without
    /// `enableAutoOffsetStore`, the offsets the application stored.
    func committablePositions() -> [TopicPartition: Int64] {
        state.withLock { state in
            config.enableAutoOffsetStore ? state.partitions.compactMapValues { $0.consumed } : state.partitions.compactMapValues { $0.stored }
        }
    }

    /// With `enableAutoOffsetStore` off: what the next commits store for these partitions (the
    /// offset to resume from: the last finished record's offset + 1). Partitions not assigned
    /// are ignored, as their commits would be refused or overwrite a new owner's.
    public func storeOffsets(_ offsets: [TopicPartition: Int64]) {
        state.withLock { state in
            for (partition, offset) in offsets { state.partitions[partition]?.stored = offset }
        }
    }

    // MARK: Assignment and positions

    /// Consumes exactly these partitions, starting at the group's committed offsets (with a
    /// `groupId`) or else by `autoOffsetReset`.
    public func assign(_ partitions: [TopicPartition]) async throws {
        var starts: [TopicPartition: SeekPosition] = [:]
        let current = Set(assignment)
        let added = partitions.filter { !current.contains($0) }
        if let group = config.groupId, !added.isEmpty {
            let admin = KafkaAdminCalls(cluster: cluster)
            for (partition, committed) in try await admin.committed(group: group, partitions: added) where committed >= 0 {
                starts[partition] = .offset(committed)
            }
        }
        state.withLock { state in
            let wanted = Set(partitions)
            for partition in state.partitions.keys where !wanted.contains(partition) {
                // Records of it already fetched and not yet taken are dropped.
                state.partitions[partition]?.epoch &+= 1
                state.partitions[partition] = nil
            }
            for partition in partitions where state.partitions[partition] == nil {
                var entry = PartitionState()
                entry.pendingSeek = starts[partition] ?? self.resetPosition()
                state.partitions[partition] = entry
            }
        }
        wakeup.signal()
    }

    /// Every partition of `topic`.
    public func assign(topic: String) async throws {
        let metadata = try await cluster.topic(topic)
        try await assign(metadata.partitions.map { TopicPartition(topic, $0.index) })
    }

    private func resetPosition() -> SeekPosition {
        config.autoOffsetReset == .earliest ? .beginning : .end
    }

    public var assignment: [TopicPartition] { state.withLock { $0.partitions.keys.sorted() } }

    /// Moves a partition; records fetched from the old position and not yet taken are dropped.
    public func seek(_ partition: TopicPartition, to position: SeekPosition) {
        state.withLock { state in
            guard var entry = state.partitions[partition] else { return }
            entry.pendingSeek = position
            entry.epoch &+= 1
            state.partitions[partition] = entry
        }
        wakeup.signal()
    }

    /// The offset of the next record the application will get, once known.
    public func position(_ partition: TopicPartition) -> Int64? {
        state.withLock { $0.partitions[partition]?.consumed }
    }

    /// How far the application is behind the partition's high watermark, once known.
    public func lag(_ partition: TopicPartition) -> Int64? {
        state.withLock { state in
            guard let entry = state.partitions[partition], let consumed = entry.consumed, entry.highWatermark >= 0 else { return nil }
            return max(0, entry.highWatermark - consumed)
        }
    }

    public func pause(_ partitions: [TopicPartition]) {
        state.withLock { state in for partition in partitions { state.partitions[partition]?.paused = true } }
    }

    public func resume(_ partitions: [TopicPartition]) {
        state.withLock { state in for partition in partitions { state.partitions[partition]?.paused = false } }
        wakeup.signal()
    }

    /// Commits the positions the application has reached (or `offsets`) for `groupId`.
    public func commit(_ offsets: [TopicPartition: Int64]? = nil) async throws {
        guard let group = config.groupId else {
            throw KafkaClientError(kind: .invalidArgument, message: "commit needs a groupId")
        }
        if let member = membership.withLock({ $0?.0 }) {
            try await member.commitPositions(offsets)
            return
        }
        let toCommit = offsets ?? committablePositions()
        guard !toCommit.isEmpty else { return }
        try await KafkaAdminCalls(cluster: cluster).commit(group: group, toCommit)
    }

    /// Commits in the background (Java's `commitAsync`): returns at once; a failure arrives on
    /// `events` as `.error`. Commits made this way are sent in the order they were asked for.
    public func commitInBackground(_ offsets: [TopicPartition: Int64]? = nil) {
        let positions = offsets ?? committablePositions()
        backgroundCommit.withLock { last in
            let previous = last
            last = Task { [self] in
                await previous?.value
                do {
                    try await commit(positions)
                } catch let error as KafkaClientError {
                    eventContinuation.yield(.error(error))
                } catch {
                    eventContinuation.yield(.error(KafkaClientError(kind: .connection, message: "\(error)")))
                }
            }
        }
    }

    /// The records of the assigned partitions, in order per partition. One task should iterate.
    public var records: ConsumerRecords { ConsumerRecords(consumer: self) }

    /// The same records a fetched batch at a time (one partition's share of a fetch), like
    /// Java's `poll()`: positions move past a whole batch when it is handed out. Cheaper per
    /// record than `records` for high-throughput loops. Iterate one of the two, not both.
    public var batches: ConsumerBatches { ConsumerBatches(consumer: self) }

    /// The group identity to pass to a transactional producer's `sendOffsetsToTransaction`:
    /// the member and generation under `subscribe`, so that a replaced member's commit is
    /// refused (KIP-447). Throws without a `groupId`.
    public func groupMetadata() async throws -> ConsumerGroupMetadata {
        guard let group = config.groupId else {
            throw KafkaClientError(kind: .invalidArgument, message: "groupMetadata needs a groupId")
        }
        guard let member = membership.withLock({ $0?.0 }) else { return ConsumerGroupMetadata(groupId: group) }
        let identity = await member.identity
        return ConsumerGroupMetadata(groupId: group, generationId: identity.generation, memberId: identity.memberId,
                                     groupInstanceId: config.groupInstanceId)
    }

    public func close() async {
        await backgroundCommit.withLock({ $0 })?.value
        if let (member, task) = membership.withLock({ $0 }) {
            await Self.end(member, task, within: config.client.requestTimeout)
        }
        eventContinuation.finish()
        state.withLock { $0.closed = true }
        wakeup.signal()
        await fetcher.withLock { $0 }?.value
        deliveries.finish()
        await cluster.close()
    }

    // MARK: Delivery to the application

    /// One partition's records from one fetch: the stream carries batches, not records, so the
    /// per-record cost is the iterator's, not the stream's.
    struct Delivery: Sendable {
        let partition: TopicPartition
        /// The fetch response's record batches for this partition.
        let bytes: ByteBuffer
        /// The fetch offset: records before it (in the first batch) are skipped.
        let from: Int64
        /// The offset after the delivery's last whole batch.
        let end: Int64
        let epoch: UInt64
        /// Records counted from the batch headers: what `prefetched` was charged.
        let estimatedRecords: Int
        /// The partition's position, so taking a record needs no lookup by name.
        let cursor: PartitionCursor
        /// read_committed: the aborted transactions the broker listed for this fetch.
        let abortedTransactions: [FetchResponse.AbortedTransaction]?
    }

    /// Called by the iterator for each record: drops records a seek made stale, and moves the
    /// consumed position.
    fileprivate func take(_ record: ConsumerRecord, of delivery: Delivery) -> Bool {
        state.withLock { _ in
            // The cursor is guarded by the consumer's lock, held here.
            guard delivery.cursor.epoch == delivery.epoch else { return false }
            delivery.cursor.consumed = record.offset + 1
            return true
        }
    }

    /// Takes a whole decoded delivery: the records still current (no seek or unassignment since
    /// they were fetched), with the position moved past the last.
    fileprivate func takeAll(_ records: [ConsumerRecord], of delivery: Delivery) -> [ConsumerRecord] {
        guard let last = records.last else { return [] }
        return state.withLock { _ in
            guard delivery.cursor.epoch == delivery.epoch else { return [] }
            delivery.cursor.consumed = last.offset + 1
            return records
        }
    }

    /// Called by the iterator once a delivery's records are all handed out (or dropped).
    fileprivate func finished(_ delivery: Delivery) {
        let wake = state.withLock { state -> Bool in
            // Past the delivery's last batch, so trailing control batches and aborted
            // transactions count as consumed (as Java's position does after a poll).
            if delivery.cursor.epoch == delivery.epoch, let consumed = delivery.cursor.consumed, consumed < delivery.end {
                delivery.cursor.consumed = delivery.end
            }
            let before = state.prefetched
            state.prefetched -= delivery.estimatedRecords
            return before >= config.maxPrefetchedRecords / 2 && state.prefetched < config.maxPrefetchedRecords / 2
        }
        if wake { wakeup.signal() }
    }

    fileprivate var deliveryStream: AsyncStream<Delivery> { stream }

    // MARK: Fetching

    private func runFetcher() async {
        while !state.withLock({ $0.closed }) {
            do {
                try await resolveSeeks()
                let plan = state.withLock { state -> [TopicPartition: (offset: Int64, epoch: UInt64)]? in
                    guard state.prefetched < config.maxPrefetchedRecords else { return nil }
                    var plan: [TopicPartition: (Int64, UInt64)] = [:]
                    for (partition, entry) in state.partitions where !entry.paused && entry.pendingSeek == nil {
                        if let fetch = entry.fetchPosition { plan[partition] = (fetch, entry.epoch) }
                    }
                    return plan
                }
                guard let plan, !plan.isEmpty else {
                    // Nothing to fetch: wait for an assignment, seek, resume or room; the
                    // timeout only bounds how late a missed case would be noticed.
                    await wakeup.wait(timeout: .milliseconds(200))
                    continue
                }
                try await fetch(plan)
            } catch {
                logger.debug("fetch failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: config.client.retryBackoff)
            }
        }
    }

    /// Turns pending seeks into fetch positions (ListOffsets for beginning, end and timestamps).
    private func resolveSeeks() async throws {
        let pending = state.withLock { state in state.partitions.compactMapValues { $0.pendingSeek } }
        guard !pending.isEmpty else { return }
        let admin = KafkaAdminCalls(cluster: cluster)
        for (partition, seek) in pending {
            let offset: Int64
            switch seek {
            case .offset(let value): offset = value
            case .beginning: offset = try await admin.listOffset(partition, timestamp: -2)
            case .end: offset = try await admin.listOffset(partition, timestamp: -1, isolation: config.isolationLevel)
            case .timestamp(let time):
                let found = try await admin.listOffset(partition, timestamp: time)
                offset = found >= 0 ? found : try await admin.listOffset(partition, timestamp: -1, isolation: config.isolationLevel)
            }
            state.withLock { state in
                guard var entry = state.partitions[partition], entry.pendingSeek == seek else { return }
                entry.pendingSeek = nil
                entry.fetchPosition = offset
                entry.consumed = offset
                state.partitions[partition] = entry
            }
        }
    }

    private func fetch(_ plan: [TopicPartition: (offset: Int64, epoch: UInt64)]) async throws {
        var byLeader: [Int32: [TopicPartition]] = [:]
        for partition in plan.keys {
            let metadata = try await cluster.topic(partition.topic)
            guard let leader = metadata.partitions.first(where: { $0.index == partition.partition })?.leader, leader >= 0 else {
                await cluster.invalidate(topic: partition.topic)
                continue
            }
            byLeader[leader, default: []].append(partition)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (leader, partitions) in byLeader {
                group.addTask { try await self.fetch(from: leader, partitions, plan: plan) }
            }
            try await group.waitForAll()
        }
    }

    private func fetch(from leader: Int32, _ partitions: [TopicPartition], plan: [TopicPartition: (offset: Int64, epoch: UInt64)]) async throws {
        let request = FetchRequest(
            replicaId: -1, maxWaitMs: Int32(clamping: config.fetchMaxWait.milliseconds), minBytes: config.fetchMinBytes,
            maxBytes: config.fetchMaxBytes, isolationLevel: config.isolationLevel.rawValue, sessionId: 0, sessionEpoch: -1,
            topics: Dictionary(grouping: partitions, by: \.topic).map { topic, entries in
                .init(topic: topic, partitions: entries.map {
                    .init(partition: $0.partition, currentLeaderEpoch: -1, fetchOffset: plan[$0]!.offset, logStartOffset: -1,
                          partitionMaxBytes: config.maxPartitionFetchBytes)
                })
            })
        let connection = try await cluster.connection(toNode: leader)
        let (response, _) = try await connection.send(request, versions: Self.fetchVersions,
                                                      timeout: config.client.requestTimeout + config.fetchMaxWait)
        for topic in response.responses {
            for data in topic.partitions {
                let partition = TopicPartition(topic.topic, data.partitionIndex)
                guard let planned = plan[partition] else { continue }
                let code = KafkaErrorCode(rawValue: data.errorCode)
                switch code {
                case .none:
                    try deliver(partition, data, from: planned.offset, epoch: planned.epoch)
                case .offsetOutOfRange:
                    guard config.autoOffsetReset != .none else {
                        throw KafkaClientError.broker(code, "\(partition) at offset \(planned.offset)")
                    }
                    logger.info("offset out of range; resetting", metadata: ["partition": "\(partition)", "policy": "\(config.autoOffsetReset)"])
                    state.withLock { state in
                        guard var entry = state.partitions[partition], entry.epoch == planned.epoch else { return }
                        entry.pendingSeek = resetPosition()
                        state.partitions[partition] = entry
                    }
                default:
                    await cluster.invalidate(topic: partition.topic)
                    if !code.isRetriable { logger.warning("fetch error", metadata: ["partition": "\(partition)", "error": "\(code.name)"]) }
                }
            }
        }
    }

    /// Hands a partition's fetched bytes to the application side. Only batch headers are read
    /// here (for the next fetch position); records are decoded by the iterator, on the
    /// application's thread, so their buffers are retained and released by one thread rather
    /// than bounced between two.
    private func deliver(_ partition: TopicPartition, _ data: FetchResponse.PartitionData, from offset: Int64, epoch: UInt64) throws {
        var next = offset
        var estimated = 0
        if var bytes = data.records {
            while let batch = try RecordBatch.next(from: &bytes, allowPartialTail: true) {
                let header = batch.header
                guard header.lastOffset >= next else { continue }
                if !header.attributes.isControl { estimated += Int(header.recordCount) }
                next = header.lastOffset + 1
            }
        }
        let accepted = state.withLock { state -> PartitionCursor? in
            guard var entry = state.partitions[partition], entry.epoch == epoch, entry.fetchPosition == offset else { return nil }
            entry.fetchPosition = next
            // What a read_committed consumer can reach is the last stable offset.
            entry.highWatermark = config.isolationLevel == .readCommitted && data.lastStableOffset >= 0
                ? data.lastStableOffset : data.highWatermark
            state.partitions[partition] = entry
            state.prefetched += estimated
            return entry.cursor
        }
        guard let cursor = accepted, next > offset, let records = data.records else { return }
        let aborted = config.isolationLevel == .readCommitted ? data.abortedTransactions ?? [] : nil
        deliveries.yield(Delivery(partition: partition, bytes: records, from: offset, end: next, epoch: epoch,
                                  estimatedRecords: estimated, cursor: cursor, abortedTransactions: aborted))
    }

    /// The records of a delivery at or after its start offset, control batches skipped (and,
    /// read_committed, aborted transactions). A batch that cannot be decoded moves the
    /// partition back to it (it is fetched again).
    fileprivate func decode(_ delivery: Delivery) -> [ConsumerRecord] {
        var records: [ConsumerRecord] = []
        records.reserveCapacity(delivery.estimatedRecords)
        var next = delivery.from
        var bytes = delivery.bytes
        let partition = delivery.partition
        var aborted = delivery.abortedTransactions.map(AbortedTransactionFilter.init)
        do {
            while let batch = try RecordBatch.next(from: &bytes, allowPartialTail: true) {
                let header = batch.header
                // The filter sees every batch, even one before the start offset: an aborted
                // transaction's ABORT marker may sit there.
                let skipped = try aborted?.skips(batch) ?? header.attributes.isControl
                guard header.lastOffset >= next else { continue }
                if skipped {
                    next = header.lastOffset + 1
                    continue
                }
                let appendTime = header.attributes.timestampType == .logAppendTime
                let start = next
                try batch.forEachRecord(decompressionLimit: 256 << 20) { record in
                    let recordOffset = header.baseOffset + Int64(record.offsetDelta)
                    guard recordOffset >= start else { return }
                    records.append(ConsumerRecord(
                        topic: partition.topic, partition: partition.partition, offset: recordOffset, key: record.key,
                        value: record.value, headers: record.headers,
                        timestamp: appendTime ? header.maxTimestamp : header.baseTimestamp + record.timestampDelta,
                        timestampType: header.attributes.timestampType))
                }
                next = header.lastOffset + 1
            }
        } catch {
            logger.warning("undecodable batch; fetching it again", metadata: ["partition": "\(partition)", "offset": "\(next)",
                                                                             "error": "\(error)"])
            let failedAt = records.last.map { $0.offset + 1 } ?? delivery.from
            state.withLock { state in
                guard var entry = state.partitions[partition], entry.epoch == delivery.epoch else { return }
                entry.pendingSeek = .offset(failedAt)
                entry.epoch &+= 1
                state.partitions[partition] = entry
            }
            wakeup.signal()
        }
        return records
    }
}

/// The consumer's records as an AsyncSequence; iterating moves the consumed positions.
/// The consumer's records a batch at a time; see `KafkaConsumer.batches`.
public struct ConsumerBatches: AsyncSequence, Sendable {
    public typealias Element = [ConsumerRecord]
    let consumer: KafkaConsumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: KafkaConsumer
        var inner: AsyncStream<KafkaConsumer.Delivery>.AsyncIterator

        public mutating func next() async -> [ConsumerRecord]? {
            while let delivery = await inner.next() {
                let records = consumer.takeAll(consumer.decode(delivery), of: delivery)
                consumer.finished(delivery)
                if !records.isEmpty { return records }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(consumer: consumer, inner: consumer.deliveryStream.makeAsyncIterator())
    }
}

public struct ConsumerRecords: AsyncSequence, Sendable {
    public typealias Element = ConsumerRecord
    let consumer: KafkaConsumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: KafkaConsumer
        var inner: AsyncStream<KafkaConsumer.Delivery>.AsyncIterator
        var pending: KafkaConsumer.Delivery?
        var decoded: [ConsumerRecord] = []
        var index = 0

        public mutating func next() async -> ConsumerRecord? {
            while true {
                if let delivery = pending {
                    if index < decoded.count {
                        let record = decoded[index]
                        index += 1
                        if consumer.take(record, of: delivery) { return record }
                        continue
                    }
                    consumer.finished(delivery)
                    pending = nil
                    decoded = []
                }
                guard let delivery = await inner.next() else { return nil }
                pending = delivery
                decoded = consumer.decode(delivery)
                index = 0
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(consumer: consumer, inner: consumer.deliveryStream.makeAsyncIterator())
    }
}

/// A partition's seek epoch and consumed position, in a class so records in flight to the
/// application can carry it and taking one needs no dictionary lookup. Guarded by the
/// consumer's lock: touched only inside `state.withLock`.
final class PartitionCursor: @unchecked Sendable {
    var epoch: UInt64 = 0
    var consumed: Int64?
}

struct PartitionState {
    let cursor = PartitionCursor()
    var pendingSeek: SeekPosition?
    /// The next offset to fetch (ahead of the application).
    var fetchPosition: Int64?
    /// The next offset the application will get: what `commit` stores.
    var consumed: Int64? {
        get { cursor.consumed }
        nonmutating set { cursor.consumed = newValue }
    }
    var highWatermark: Int64 = -1
    var paused = false
    /// The offset `storeOffsets` set, committed instead of `consumed` without auto-store.
    var stored: Int64?
    /// Bumped by every seek (and when the partition is unassigned), so records fetched before
    /// it are dropped.
    var epoch: UInt64 {
        get { cursor.epoch }
        nonmutating set { cursor.epoch = newValue }
    }
}

struct ConsumerState {
    var partitions: [TopicPartition: PartitionState] = [:]
    var prefetched = 0
    var closed = false
}
