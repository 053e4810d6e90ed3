import Glibc
import KafkaProtocol
import Logging
import NIOCore
import Synchronization

/// Where completions of a log's writes run: the thread (event loop) that owns the log.
public protocol LogOwnerExecutor: Sendable {
    func execute(_ work: @escaping @Sendable () -> Void)
    /// Runs `work` on the owner every `intervalMs` until the returned handle is cancelled.
    func scheduleRepeated(everyMs intervalMs: Int64, _ work: @escaping @Sendable () -> Void) -> any LogScheduledTask
    /// Runs `work` on the owner once, `delayMs` from now, unless the returned handle is
    /// cancelled first.
    func schedule(afterMs delayMs: Int64, _ work: @escaping @Sendable () -> Void) -> any LogScheduledTask
    /// Whether the caller runs on the owner (state confined to it asserts this).
    var isCurrent: Bool { get }
}

extension LogOwnerExecutor {
    public var isCurrent: Bool { true }
}

/// A repeating or one-shot task on the owner executor.
public protocol LogScheduledTask: Sendable {
    func cancel()
}

/// What an append was given.
public struct LogAppendInfo: Sendable, Hashable {
    public let firstOffset: Int64
    public let lastOffset: Int64
    /// The broker time stamped into the batch under LogAppendTime, else -1 (as Kafka reports).
    public let logAppendTimeMs: Int64
    public let logStartOffset: Int64
}

/// A fetch's answer: file regions of whole-or-tail-cut batches and the offsets around them.
public struct LogReadResult: Sendable {
    public let slices: [FileRegionSlice]
    public let highWatermark: Int64
    public let logStartOffset: Int64
    public let logEndOffset: Int64
    public var byteCount: Int { slices.reduce(0) { $0 + $1.length } }
}

/// One partition's log: segments on disk, offsets, durability.
///
/// Ownership: every method must be called on the owner executor (the partition's event loop);
/// the log takes no locks. Write completions hop back to the owner through that executor.
///
/// Offsets: `logStartOffset` ≤ `highWatermark` ≤ `stableEnd` ≤ `logEndOffset`. Appends get
/// offsets at once (`logEndOffset` moves); the stable end moves only when the write completed
/// and, under the durable default (`flush.messages=1`), after the fdatasync that covers it. The
/// high watermark — what consumers may read — follows the stable end on a log of its own; on a
/// replicated partition the replication layer moves it to what the in-sync replicas all hold
/// (`highWatermarkFollowsReplicas`). So under the default a consumer never sees data a crash
/// could lose.
public final class PartitionLog: @unchecked Sendable {
    // @unchecked: confined to the owner executor, which is the documented contract above.
    public let directory: String
    public internal(set) var config: LogConfig {
        didSet { compactionFlag.store(config.compactionEnabled, ordering: .relaxed) }
    }
    /// `config.compactionEnabled`, readable off the owner: the cleaner thread skips logs that
    /// are not compacted without a hop to each one's owner on every pass.
    private let compactionFlag: Atomic<Bool>
    public var isCompacted: Bool { compactionFlag.load(ordering: .relaxed) }
    let writer: any LogWriter
    let owner: any LogOwnerExecutor
    let files: FileHandleCache
    let logger: Logger
    let health: StorageHealth
    var segments: [LogSegment]

    public internal(set) var logStartOffset: Int64
    /// What consumers may read.
    public internal(set) var highWatermark: Int64
    var highWatermarkLocation: (segmentBase: Int64, position: Int64)
    /// Offsets below it are written and, under the durable default, fdatasync'd: how far a
    /// follower may read this log and the high watermark may go.
    public internal(set) var stableEnd: Int64
    var stableEndLocation: (segmentBase: Int64, position: Int64)
    /// Offsets through which data is on disk (fdatasync'd).
    public internal(set) var durableOffset: Int64
    /// Set on a partition with other replicas: the high watermark then moves only through
    /// `advanceHighWatermark(to:)`, never by itself as writes complete.
    public var highWatermarkFollowsReplicas = false {
        didSet { if !highWatermarkFollowsReplicas { advanceHighWatermark(to: stableEnd) } }
    }

    /// Moves whenever closed segments change (truncation, retention, a cleaner's swap): a
    /// cleaning planned before that is abandoned.
    var segmentGeneration: UInt64 = 0
    /// The topic was deleted: the directory is gone, nothing is served.
    public private(set) var isDetached = false

    /// Appends whose write has not completed, oldest first.
    var inFlight: [PendingAppend] = []
    /// Idempotent producers' recent batches (deduplication, sequence and epoch checks) and
    /// transactional producers' open transactions.
    public internal(set) var producerState = ProducerStateTable()
    /// Transactions whose marker is written but not yet below the high watermark: they still
    /// hold the last stable offset back (Kafka's unreplicatedTxns), oldest first.
    var completedAboveHighWatermark: [ProducerStateTable.CompletedTransaction] = []
    /// Retries of batches still in flight: answered when the original completes.
    var duplicateWaiters: [(endOffset: Int64, info: LogAppendInfo, completion: (Result<LogAppendInfo, StorageError>) -> Void)] = []
    var nextAppendID: UInt64 = 0
    var unflushedMessages: Int64 = 0
    var lastFlushMs: Int64
    var failure: StorageError?
    /// The recovery point last written to `recovery-point`.
    var savedRecoveryPoint: Int64 = -1
    /// Called on the owner after the high watermark moves (consumers' long polls wait on it).
    public var onHighWatermarkChange: ((Int64) -> Void)?
    /// Called on the owner after the stable end moves (followers' long polls and a leader's
    /// high watermark wait on it).
    public var onStableEndChange: ((Int64) -> Void)?

    struct PendingAppend {
        let id: UInt64
        let endOffset: Int64
        let segmentBase: Int64
        let startPosition: Int64
        let endPosition: Int64
        let synced: Bool
        let completion: (Result<LogAppendInfo, StorageError>) -> Void
        let info: LogAppendInfo
        /// The producer's entry before this append, to restore if it fails.
        let producerBefore: (id: Int64, entry: ProducerStateTable.Producer?)?
        var done = false
    }

    /// The epoch stamped into appended batches (partition leader epoch); recovery refuses
    /// batches that claim a later one. `becomeLeader(epoch:)` moves it.
    public internal(set) var leaderEpoch: Int32
    /// Which epoch wrote which offsets (`leader-epoch-checkpoint`), for OffsetForLeaderEpoch and
    /// the divergence check of a follower's fetch.
    public internal(set) var epochs = LeaderEpochCache()

    /// Opens (creating when missing) the log in `directory`, recovering it when the last
    /// shutdown was not clean.
    public init(directory: String, config: LogConfig, writer: any LogWriter, owner: any LogOwnerExecutor,
                files: FileHandleCache, leaderEpoch: Int32 = 0, cleanShutdown: Bool, nowMs: Int64, logger: Logger,
                health: StorageHealth = StorageHealth()) throws {
        self.health = health
        self.leaderEpoch = leaderEpoch
        self.directory = directory
        self.config = config
        self.compactionFlag = Atomic(config.compactionEnabled)
        self.rollJitterMs = Self.randomJitter(config)
        self.writer = writer
        self.owner = owner
        self.files = files
        self.logger = logger
        self.lastFlushMs = nowMs
        try createDirectory(directory)
        // Batches may carry any epoch the epoch cache has seen (a follower stores the leader's);
        // recovery refuses only later ones.
        let checkpointed = readWholeFile(path: directory + "/" + LeaderEpochCache.fileName)
            .flatMap { LeaderEpochCache.parse($0) }?.latestEpoch ?? -1
        self.leaderEpoch = max(leaderEpoch, checkpointed)
        let loaded = try LogLoader(directory: directory, config: config, files: files, maximumLeaderEpoch: self.leaderEpoch,
                                   logger: logger, health: health).load(cleanShutdown: cleanShutdown, nowMs: nowMs)
        self.segments = loaded.segments
        self.logStartOffset = loaded.logStartOffset
        let end = loaded.segments.last!
        self.highWatermark = end.nextOffset
        self.highWatermarkLocation = (end.baseOffset, end.size)
        self.stableEnd = end.nextOffset
        self.stableEndLocation = (end.baseOffset, end.size)
        self.durableOffset = end.nextOffset
        _ = try end.file()  // fail here, not on the first append, when it cannot be opened
        // An abort recorded for a marker a crash did not let reach the log (the replay below
        // writes again those that did).
        try end.transactionIndex.truncate(from: end.nextOffset)
        try loadProducerState()
        try loadEpochs()
    }

    /// The snapshot written at the last clean shutdown, then every idempotent batch after it
    /// (batch headers only, one pread each), so a restart keeps deduplicating retries.
    func loadProducerState() throws {
        var from = logStartOffset
        producerState = ProducerStateTable()
        if let bytes = readWholeFile(path: directory + "/" + Self.producerStateFile),
           let (table, validUpTo) = ProducerStateTable.parse(bytes), validUpTo <= logEndOffset, validUpTo >= logStartOffset {
            producerState = table
            from = validUpTo
        }
        try replayProducerState(from: from)
    }

    func replayProducerState(from offset: Int64) throws {
        completedAboveHighWatermark.removeAll()
        for segment in segments where segment.nextOffset > offset {
            let file = try segment.file()
            try segment.scanHeaders(from: 0, to: segment.size) { header, position in
                if header.baseOffset >= offset && header.producerId >= 0 {
                    try replayProducerState(of: header, bytes: {
                        var buffer = ByteBuffer()
                        try file.read(at: position, count: header.totalSize, appendingTo: &buffer)
                        return buffer
                    }, timestamp: header.maxTimestamp, segment: segment)
                }
                return true
            }
        }
    }

    public var logEndOffset: Int64 { segments.last!.nextOffset }
    public var segmentCount: Int { segments.count }
    public var sizeInBytes: Int64 { segments.reduce(0) { $0 + $1.size } }
    public var isOffline: Bool { failure != nil }
    /// Base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { segments.map(\.baseOffset) }

    public func updateConfig(_ config: LogConfig) {
        let jitterChanged = config.segmentJitterMs != self.config.segmentJitterMs || config.segmentMs != self.config.segmentMs
        self.config = config
        if jitterChanged { rollJitterMs = Self.randomJitter(config) }
    }

    /// Anything appended, truncated or deleted since the log was opened (so a clean close has
    /// something to write).
    var changedSinceOpen = false

    /// How much earlier than segment.ms the active segment rolls (Kafka's randomSegmentJitter:
    /// drawn per segment, below both segment.jitter.ms and segment.ms).
    var rollJitterMs: Int64 = 0

    static func randomJitter(_ config: LogConfig) -> Int64 {
        let bound = min(config.segmentJitterMs, config.segmentMs)
        return bound > 0 ? Int64.random(in: 0..<bound) : 0
    }

    // MARK: Append

    /// Appends one validated magic-2 batch. The batch's base offset is set to the log end
    /// offset and its partition leader epoch to `leaderEpoch`; under LogAppendTime its max
    /// timestamp is set to `nowMs` and the CRC recomputed. Nothing else in it changes.
    ///
    /// Returns the assigned offsets at once. `completion` runs on the owner when the batch is
    /// written (and, under the durable default, fdatasync'd); on failure the log is rolled back
    /// to before this append, so later appends in flight fail too.
    ///
    /// `fromCoordinator`: a group coordinator's transactional offset commit (Kafka's origin
    /// COORDINATOR): its batches carry the producer's id and epoch but no sequence of their
    /// own, so only the epoch is checked.
    @discardableResult
    public func append(_ batch: ByteBuffer, nowMs: Int64, fromCoordinator: Bool = false,
                       completion: @escaping (Result<LogAppendInfo, StorageError>) -> Void) throws -> LogAppendInfo {
        if let failure { throw failure }
        changedSinceOpen = true
        var bytes = batch
        var header = try RecordBatchHeader(peekingAt: bytes)
        guard header.totalSize == bytes.readableBytes else {
            throw StorageError.invalidBatch("batch length \(header.totalSize) does not match \(bytes.readableBytes) bytes")
        }
        var producerBefore: (id: Int64, entry: ProducerStateTable.Producer?)?
        let marker = try Self.transactionMarker(in: bytes, header: header)
        if let marker {
            switch producerState.markerVerdict(producerId: header.producerId, producerEpoch: header.producerEpoch,
                                               coordinatorEpoch: marker.coordinatorEpoch) {
            case .append:
                producerBefore = (header.producerId, producerState.producer(header.producerId))
            case .staleEpoch(let current):
                throw StorageError.invalidProducerEpoch(producerId: header.producerId, current: current, received: header.producerEpoch)
            case .coordinatorFenced(let current):
                throw StorageError.transactionCoordinatorFenced(producerId: header.producerId, current: current,
                                                                received: marker.coordinatorEpoch)
            }
        } else if header.producerId >= 0, fromCoordinator {
            if let current = producerState.producer(header.producerId)?.epoch, header.producerEpoch < current {
                throw StorageError.invalidProducerEpoch(producerId: header.producerId, current: current, received: header.producerEpoch)
            }
            producerBefore = (header.producerId, producerState.producer(header.producerId))
        } else if header.producerId >= 0 {
            switch producerState.verdict(for: header) {
            case .append:
                producerBefore = (header.producerId, producerState.producer(header.producerId))
            case .duplicate(let original):
                return answerDuplicate(original, completion: completion)
            case .outOfOrder(let expected):
                throw StorageError.outOfOrderSequence(producerId: header.producerId, expected: expected, received: header.baseSequence)
            case .staleEpoch(let current):
                throw StorageError.invalidProducerEpoch(producerId: header.producerId, current: current, received: header.producerEpoch)
            case .invalidTxnState:
                throw StorageError.invalidTxnState(producerId: header.producerId)
            }
        }
        let baseOffset = logEndOffset
        let start = bytes.readerIndex
        var appendTime: Int64 = -1
        // What goes to the file: the producer's bytes as they are, behind a fresh 16-byte
        // prefix (base offset, length, leader epoch: outside the CRC), written as one vectored
        // write. Stamping the offset into the request's own buffer would copy the whole batch
        // (the request still references it). LogAppendTime changes bytes under the CRC, so
        // that rare case stamps a copy.
        var pieces: [ByteBuffer]
        if config.timestampType == .logAppendTime {
            bytes.setInteger(baseOffset, at: start)
            bytes.setInteger(leaderEpoch, at: start + 12)
            appendTime = nowMs
            var attributes = header.attributes
            attributes.timestampType = .logAppendTime
            bytes.setInteger(attributes.rawValue, at: start + RecordBatchHeader.attributesOffset)
            bytes.setInteger(nowMs, at: start + RecordBatchHeader.maxTimestampOffset)
            let crc = bytes.crc32c(at: start + RecordBatchHeader.attributesOffset,
                                   length: header.totalSize - RecordBatchHeader.attributesOffset)
            bytes.setInteger(crc, at: start + RecordBatchHeader.crcOffset)
            header = try RecordBatchHeader(peekingAt: bytes)
            pieces = [bytes]
        } else {
            var prefix = ByteBuffer()
            prefix.reserveCapacity(Self.stampedPrefixSize)
            prefix.writeInteger(baseOffset)
            prefix.writeInteger(header.batchLength)
            prefix.writeInteger(leaderEpoch)
            guard let rest = bytes.getSlice(at: start + Self.stampedPrefixSize, length: header.totalSize - Self.stampedPrefixSize) else {
                throw StorageError.invalidBatch("batch shorter than its header")
            }
            header.baseOffset = baseOffset
            header.partitionLeaderEpoch = leaderEpoch
            pieces = [prefix, rest]
        }

        try rollIfNeeded(incoming: header, nowMs: nowMs)
        let segment = segments.last!
        let position = segment.size
        segment.recordAppend(header: header, position: position, nowMs: nowMs)
        if let marker {
            recordMarker(marker, header: header, offset: baseOffset, timestamp: nowMs, segment: segment)
        } else if header.producerId >= 0 {
            producerState.record(header, firstOffset: baseOffset, timestamp: nowMs)
        }

        unflushedMessages += Int64(header.recordCount)
        let durable = config.isDurableOnAppend
        let info = LogAppendInfo(firstOffset: baseOffset, lastOffset: header.lastOffset,
                                 logAppendTimeMs: appendTime, logStartOffset: logStartOffset)
        let id = nextAppendID
        nextAppendID += 1
        inFlight.append(PendingAppend(id: id, endOffset: header.lastOffset + 1, segmentBase: segment.baseOffset,
                                      startPosition: position, endPosition: position + Int64(header.totalSize),
                                      synced: durable, completion: completion, info: info, producerBefore: producerBefore))
        let file = try segment.file()
        let owner = self.owner
        // One group for all pieces: a failure of any fails the last, which completes the append.
        var requests: [WriteRequest] = []
        var piecePosition = position
        for (index, piece) in pieces.enumerated() {
            let last = index == pieces.count - 1
            requests.append(WriteRequest(file: file, position: piecePosition, data: piece, sync: durable && last) { [self] result in
                guard last else { return }
                owner.execute { self.writeCompleted(id: id, result: result) }
            })
            piecePosition += Int64(piece.readableBytes)
        }
        writer.submit(requests)
        if !durable { maybeScheduleBackgroundFlush(nowMs: nowMs) }
        return info
    }

    /// Base offset, batch length and partition leader epoch: the header bytes before the CRC.
    static let stampedPrefixSize = 16

    /// A retried batch: its original offsets, once the original is readable.
    func answerDuplicate(_ original: ProducerStateTable.Batch,
                                 completion: @escaping (Result<LogAppendInfo, StorageError>) -> Void) -> LogAppendInfo {
        let info = LogAppendInfo(firstOffset: original.firstOffset, lastOffset: original.lastOffset, logAppendTimeMs: -1,
                                 logStartOffset: logStartOffset)
        if original.lastOffset < stableEnd {
            completion(.success(info))
        } else {
            duplicateWaiters.append((original.lastOffset + 1, info, completion))
        }
        return info
    }

    func writeCompleted(id: UInt64, result: Result<Void, StorageError>) {
        guard let index = inFlight.firstIndex(where: { $0.id == id }) else { return }
        switch result {
        case .success:
            inFlight[index].done = true
            advanceStableEnd()
        case .failure(let error):
            failAppends(from: index, error: error)
        }
    }

    /// Moves the stable end over the completed prefix of in-flight appends (and the high
    /// watermark with it, on a log of its own).
    func advanceStableEnd() {
        var moved = false
        while let first = inFlight.first, first.done {
            inFlight.removeFirst()
            stableEnd = first.endOffset
            stableEndLocation = (first.segmentBase, first.endPosition)
            if first.synced { durableOffset = max(durableOffset, first.endOffset) }
            moved = true
            first.completion(.success(first.info))
        }
        guard moved else { return }
        saveRecoveryPoint()
        if !duplicateWaiters.isEmpty {
            let ready = duplicateWaiters.filter { $0.endOffset <= stableEnd }
            duplicateWaiters.removeAll { $0.endOffset <= stableEnd }
            for waiter in ready { waiter.completion(.success(waiter.info)) }
        }
        if !highWatermarkFollowsReplicas { advanceHighWatermark(to: stableEnd) }
        onStableEndChange?(stableEnd)
    }

    /// At open, before the log serves anyone: a replicated partition's high watermark starts
    /// where the last checkpoint had it, not at the recovered log end (records past it may never
    /// have reached the ISR). It moves forward again as replication confirms it.
    public func restoreHighWatermark(_ offset: Int64) {
        guard offset < highWatermark else { return }
        let target = max(offset, logStartOffset)
        let segment = segments[segmentIndex(containing: target)]
        let end = segment.baseOffset == stableEndLocation.segmentBase ? stableEndLocation.position : segment.size
        if target == segment.baseOffset {
            highWatermarkLocation = (segment.baseOffset, 0)
            highWatermark = target
        } else if let located = try? segment.locate(offset: target, before: end) {
            highWatermarkLocation = (segment.baseOffset, located.position)
            highWatermark = located.header.baseOffset
        } else {
            highWatermarkLocation = (segment.baseOffset, end)
            highWatermark = segment.nextOffset
        }
    }

    /// Moves the high watermark forward to `offset`, or to the stable end when that is lower
    /// (Kafka's maybeIncrementLeaderHW on a leader, min(leader's, own end) on a follower). It
    /// never moves back here: only truncation lowers it.
    public func advanceHighWatermark(to offset: Int64) {
        let target = min(offset, stableEnd)
        guard target > highWatermark else { return }
        if target == stableEnd {
            highWatermarkLocation = stableEndLocation
            highWatermark = target
        } else {
            // Replicas hold whole batches, so the target is a batch boundary here; if it is not,
            // the high watermark stops at the start of the batch it falls in.
            let segment = segments[segmentIndex(containing: target)]
            let end = segment.baseOffset == stableEndLocation.segmentBase ? stableEndLocation.position : segment.size
            guard let located = try? segment.locate(offset: target, before: end) else { return }
            guard located.header.baseOffset > highWatermark else { return }
            highWatermarkLocation = (segment.baseOffset, located.position)
            highWatermark = located.header.baseOffset
        }
        onHighWatermarkChange?(highWatermark)
    }

    /// A write failed (disk full, I/O error): cut the log back to where that append began, so
    /// the offsets are reused and nothing unwritten is ever served. Every later in-flight append
    /// fails with the same error.
    func failAppends(from index: Int, error: StorageError) {
        // While the disk stays full every retry fails the same way: the first failure warns.
        var level = Logger.Level.warning
        if case .diskFull = error {
            if health.isDiskFull { level = .debug }
            health.recordDiskFull()
        }
        let failed = Array(inFlight[index...])
        inFlight.removeSubrange(index...)
        let first = failed[0]
        do {
            while let last = segments.last, last.baseOffset > first.segmentBase, segments.count > 1 {
                segments.removeLast()
                last.deleteFiles()
            }
            if let segment = segments.last, segment.baseOffset == first.segmentBase {
                try segment.rollBack(toPosition: first.startPosition)
            }
        } catch let rollBackError as StorageError {
            logger.error("cannot roll back a failed append; taking the partition offline",
                         metadata: ["directory": "\(directory)", "error": "\(rollBackError)"])
            failure = .offline(reason: "roll back after \(error) failed: \(rollBackError)")
        } catch {
            failure = .offline(reason: "\(error)")
        }
        logger.log(level: level, "append failed; log rolled back",
                       metadata: ["directory": "\(directory)", "error": "\(error)", "offset": "\(first.info.firstOffset)"])
        for append in failed.reversed() {
            if let before = append.producerBefore { producerState.restore(before.id, to: before.entry) }
        }
        completedAboveHighWatermark.removeAll { $0.lastOffset >= first.info.firstOffset }
        let orphaned = duplicateWaiters.filter { $0.endOffset > first.info.firstOffset }
        duplicateWaiters.removeAll { $0.endOffset > first.info.firstOffset }
        for append in failed {
            append.completion(.failure(error))
        }
        for waiter in orphaned { waiter.completion(.failure(error)) }
    }

    func rollIfNeeded(incoming header: RecordBatchHeader, nowMs: Int64) throws {
        let active = segments.last!
        guard active.size > 0 else { return }
        let full = active.size + Int64(header.totalSize) > config.segmentBytes
        let old = nowMs - active.createdMs >= config.maxSegmentMs - rollJitterMs
        let offsetsOverflow = header.lastOffset - active.baseOffset > Int64(Int32.max)
        guard full || old || offsetsOverflow else { return }
        do {
            try roll(nowMs: nowMs)
        } catch let error as StorageError {
            if case .diskFull = error { health.recordDiskFull() }
            throw error
        }
    }

    /// Starts a new active segment at the log end offset.
    public func roll(nowMs: Int64) throws {
        let previous = segments.last!
        guard previous.size > 0 else { return }
        try previous.writeIndexes(sync: false)
        let next = try LogSegment.create(directory: directory, baseOffset: logEndOffset, files: files, nowMs: nowMs,
                                         indexIntervalBytes: config.indexIntervalBytes)
        segments.append(next)
        rollJitterMs = Self.randomJitter(config)
        if !config.isDurableOnAppend {
            // The rolled segment's tail may not be on disk yet; sync it in the background.
            scheduleFlush(of: previous, upTo: previous.nextOffset, nowMs: nowMs)
        }
        logger.debug("rolled segment", metadata: ["directory": "\(directory)", "base": "\(next.baseOffset)"])
    }

    // MARK: Background flushing (Kafka-style flush.messages / flush.ms)

    var flushInFlight = false

    func maybeScheduleBackgroundFlush(nowMs: Int64) {
        guard !flushInFlight else { return }
        let byCount = unflushedMessages >= config.flushMessages
        let byTime = config.flushMs != Int64.max && nowMs - lastFlushMs >= config.flushMs
        guard byCount || byTime else { return }
        scheduleFlush(of: segments.last!, upTo: logEndOffset, nowMs: nowMs)
    }

    var maintenance: (any LogScheduledTask)?

    /// Starts the log's background work on its owner: retention (`retention.ms`,
    /// `retention.bytes`) and time-based flushing (`flush.ms`) every `intervalMs`
    /// (Kafka's `log.retention.check.interval.ms` defaults to 5 minutes). `clock` gives the
    /// current time in milliseconds.
    public func startBackgroundMaintenance(intervalMs: Int64, clock: @escaping @Sendable () -> Int64) {
        maintenance?.cancel()
        maintenance = owner.scheduleRepeated(everyMs: intervalMs) { [self] in
            let now = clock()
            flushIfDue(nowMs: now)
            producerState.expire(olderThan: now - config.producerIdExpirationMs)
            do {
                try applyRetention(nowMs: now)
            } catch {
                logger.warning("retention failed", metadata: ["directory": "\(directory)", "error": "\(error)"])
            }
        }
    }

    public func stopBackgroundMaintenance() {
        maintenance?.cancel()
        maintenance = nil
    }

    /// Runs the time-based flush; background maintenance calls it.
    public func flushIfDue(nowMs: Int64) {
        guard !config.isDurableOnAppend, durableOffset < logEndOffset else { return }
        maybeScheduleBackgroundFlush(nowMs: nowMs)
    }

    func scheduleFlush(of segment: LogSegment, upTo offset: Int64, nowMs: Int64) {
        guard let file = try? segment.file() else { return }
        flushInFlight = true
        unflushedMessages = 0
        lastFlushMs = nowMs
        let owner = self.owner
        // A sync request queues behind every write submitted before it, so it covers them;
        // appends do not wait for it.
        writer.submit(WriteRequest(file: file, position: 0, data: ByteBuffer(), sync: true, background: true) { [self] result in
            owner.execute {
                self.flushInFlight = false
                if case .success = result {
                    self.durableOffset = max(self.durableOffset, min(offset, self.stableEnd))
                    self.saveRecoveryPoint()
                }
            }
        })
    }

    /// Flushes everything appended so far; `completion` runs on the owner when it is durable.
    public func flush(completion: @escaping (Result<Void, StorageError>) -> Void) {
        guard let file = try? segments.last!.file() else {
            completion(.failure(.offline(reason: "no active segment file")))
            return
        }
        let target = logEndOffset
        let owner = self.owner
        let bound = OwnerBound(completion)
        writer.submit(WriteRequest(file: file, position: 0, data: ByteBuffer(), sync: true) { [self] result in
            owner.execute {
                if case .success = result { self.durableOffset = max(self.durableOffset, min(target, self.stableEnd)) }
                bound.value(result)
            }
        })
    }

    // MARK: Shutdown

    /// Takes the log out of service for a deleted topic: maintenance stops, every later call
    /// fails (offline), its cached descriptors are forgotten, and its directory is renamed to
    /// `deletedDirectory` at once, so a topic created next under the same name starts in a
    /// directory of its own and never shares a path, a file or a cached descriptor with this
    /// one. The renamed files are removed; fetches in flight keep their open files until done.
    public func detachForDeletion(renamingTo deletedDirectory: String) {
        stopBackgroundMaintenance()
        isDetached = true
        failure = .offline(reason: "the topic was deleted")
        for segment in segments { segment.forgetCachedFile() }
        if rename(directory, deletedDirectory) == 0 {
            removeDirectoryTree(deletedDirectory)
        } else {
            logger.error("could not move a deleted partition's directory aside", metadata: [
                "directory": "\(directory)", "to": "\(deletedDirectory)", "errno": "\(errno)"])
        }
    }

    /// Writes what a clean start needs (the active segment's indexes, the log start offset, the
    /// producer snapshot) and stops maintenance. A log nothing changed since it was opened has
    /// nothing to write: with tens of thousands of idle partitions that is what keeps shutdown
    /// quick. With `sync: false` the caller makes it durable, for every log at once (syncfs).
    public func closeCleanly(sync: Bool = true) throws {
        stopBackgroundMaintenance()
        if failure != nil { return }
        guard changedSinceOpen else { return }
        let active = segments.last!
        if sync {
            try active.file().sync()
            for segment in segments { try segment.syncTransactionIndex() }
        }
        try active.writeIndexes(sync: sync)
        try saveLogStartOffset(sync: sync)
        try writeFileAtomically(path: directory + "/" + Self.producerStateFile,
                                bytes: producerState.serialized(validUpTo: logEndOffset), sync: sync)
    }
}

/// A value that crosses to another thread (the storage thread, a producer id source) and back
/// but is only used on the owner executor.
public struct OwnerBound<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}

/// Creates `path` and any missing parents (`mkdir -p`).
public func createDirectory(_ path: String) throws {
    var components: [String] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: false) {
        components.append(String(part))
        let prefix = components.joined(separator: "/")
        guard !prefix.isEmpty else { continue }
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw StorageError.io(errno: errno, operation: "mkdir", path: prefix)
        }
    }
}
