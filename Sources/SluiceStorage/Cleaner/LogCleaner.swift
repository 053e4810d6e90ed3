import CSluiceUring
import Glibc
import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The broker's log cleaner: one thread that cleans the compacted log most in need of it, one at
/// a time, off the event loops, as Kafka's LogCleaner does. A log is cleanable when its dirty
/// share reaches `min.cleanable.dirty.ratio`, or when its oldest uncleaned record has waited
/// `max.compaction.lag.ms`. Planning and the swap run on the log's owner; reading, the offset map
/// and writing run here. Where each log's clean part ends is kept in the data directory's
/// `cleaner-offset-checkpoint` (Kafka's file), so a restart goes on from there; when each log's
/// earliest kept tombstone may go is kept beside it (`cleaner-delete-horizon-checkpoint`), so a
/// restart does not leave tombstones in a clean log until new writes make it dirty.
public final class LogCleaner: @unchecked Sendable {
    // @unchecked: `logs`, `checkpoints`, `deleteHorizons` and `failedUntil` are guarded by
    // `condition`; the thread
    // owns everything else it touches.
    public struct Settings: Sendable {
        public var dedupeBufferBytes: Int = 128 << 20
        public var loadFactor: Double = 0.9
        public var maxBytesPerSecond: Double = .greatestFiniteMagnitude
        public var backoffMs: Int64 = 15_000
        public init() {}
    }

    /// What the cleaner did, for /metrics (Kafka's kafka.log:type=LogCleaner gauges).
    public struct Statistics: Sendable {
        public var runs: Int64 = 0
        public var bytesRead: Int64 = 0
        public var bytesCleaned: Int64 = 0
        public var bytesWritten: Int64 = 0
        public var recordsRemoved: Int64 = 0
        /// Bytes written over bytes read in the last run.
        public var lastRatio: Double = 0
        public var lastRunEndMs: Int64 = 0
        public var lastRunMs: Int64 = 0
        /// Time spent cleaning, over all runs (bytes read over it: the cleaning rate).
        public var cleaningMs: Int64 = 0
        /// The dirtiest log's dirty share at the last check.
        public var maxDirtyRatio: Double = 0
        public var failures: Int64 = 0
    }

    private struct Entry {
        weak var log: PartitionLog?
    }

    static let checkpointFile = "cleaner-offset-checkpoint"
    static let horizonFile = "cleaner-delete-horizon-checkpoint"

    private let directory: String
    private let settings: Settings
    private let clock: @Sendable () -> Int64
    private let logger: Logger
    private let condition = ConditionLock(value: 0)
    private var logs: [OffsetCheckpointFile.Key: Entry] = [:]
    private var checkpoints: [OffsetCheckpointFile.Key: Int64]
    /// Per log, when its earliest kept tombstone may go: the log is cleaned then, dirty or not.
    private var deleteHorizons: [OffsetCheckpointFile.Key: Int64] = [:]
    /// Logs whose last cleaning failed, left alone until then (Kafka marks them uncleanable): a
    /// damaged segment must not have the cleaner fail on it in a loop.
    private var failedUntil: [OffsetCheckpointFile.Key: Int64] = [:]
    /// Set by `shutdown`; a pass checks it after every segment, so a broker's shutdown waits
    /// for one segment's cleaning at most, not a whole log's.
    private let stopRequested = Atomic<Bool>(false)

    struct Stopped: Error {}
    private var thread: pthread_t?
    private let stats = Mutex(Statistics())

    public var statistics: Statistics { stats.withLock { $0 } }

    public init(dataDirectory: String, settings: Settings, clock: @escaping @Sendable () -> Int64, logger: Logger) {
        self.directory = dataDirectory
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.checkpoints = OffsetCheckpointFile.load(path: dataDirectory + "/" + Self.checkpointFile)
        self.deleteHorizons = OffsetCheckpointFile.load(path: dataDirectory + "/" + Self.horizonFile)
    }

    /// Starts the thread.
    public func start() {
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { argument in
            let cleaner = Unmanaged<LogCleaner>.fromOpaque(argument!).takeRetainedValue()
            _ = sluice_configure_current_thread("sluice-cleaner", 1)
            cleaner.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "cannot start the log cleaner thread: \(rc)")
        thread = handle
    }

    /// A log to clean when its topic is compacted. A second registration of a name in one run
    /// is a new log (the topic was deleted and created again, the replica moved away and back):
    /// its predecessor's checkpoint does not apply.
    public func register(_ log: PartitionLog, topic: String, partition: Int32) {
        condition.lock()
        let name = OffsetCheckpointFile.Key(topic: topic, partition: partition)
        if let previous = logs[name], previous.log !== log {
            checkpoints[name] = nil
            deleteHorizons[name] = nil
        }
        logs[name] = Entry(log: log)
        condition.unlock()
    }

    /// A deleted partition: its checkpoint goes too (a new topic of that name starts clean).
    public func unregister(topic: String, partition: Int32) {
        condition.lock()
        let name = OffsetCheckpointFile.Key(topic: topic, partition: partition)
        logs[name] = nil
        let had = checkpoints.removeValue(forKey: name) != nil
        deleteHorizons[name] = nil
        let snapshot = (checkpoints, deleteHorizons)
        condition.unlock()
        if had { writeCheckpoints(snapshot) }
    }

    /// Wakes the thread for a pass now (tests; an operator's config change).
    public func wake() {
        condition.lock()
        condition.unlock(withValue: 1)
    }

    public func shutdown() {
        stopRequested.store(true, ordering: .relaxed)
        condition.lock()
        condition.unlock(withValue: 1)
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
    }

    private func run() {
        while true {
            // Woken early by wake() or shutdown(); otherwise one pass per backoff.
            // On a timeout the lock is not held: take it plainly.
            if !condition.lock(whenValue: 1, timeoutSeconds: Double(settings.backoffMs) / 1000) { condition.lock() }
            condition.unlock(withValue: 0)
            if stopRequested.load(ordering: .relaxed) { return }
            while !stopRequested.load(ordering: .relaxed), cleanDirtiest() {}
        }
    }

    /// Cleans the log most in need; false when none is, or when the cleaning made no progress
    /// (failed, or abandoned because the log changed): the thread then waits a backoff.
    @discardableResult
    public func cleanDirtiest() -> Bool {
        condition.lock()
        let candidates = logs.compactMap { name, entry in entry.log.map { (name, $0) } }
        let known = checkpoints
        let horizons = deleteHorizons
        logs = logs.filter { $0.value.log != nil }
        let now = clock()
        let resting = failedUntil.filter { $0.value > now }
        failedUntil = resting
        condition.unlock()
        var best: (name: OffsetCheckpointFile.Key, log: PartitionLog, plan: CleaningPlan, score: Double)?
        var maxRatio = 0.0
        for (name, log) in candidates where resting[name] == nil && log.isCompacted {
            let tombstonesDue = horizons[name].map { now >= $0 } ?? false
            guard let (plan, config) = onOwner(of: log, { () -> (CleaningPlan, LogConfig)? in
                let config = log.config
                guard config.compactionEnabled,
                      let plan = log.cleaningPlan(firstDirtyOffset: known[name] ?? 0, nowMs: now, deleteRetentionMs: config.deleteRetentionMs,
                                                  minCompactionLagMs: config.minCompactionLagMs, evenIfClean: tombstonesDue) else { return nil }
                return (plan, config)
            }) ?? nil else { continue }
            let ratio = plan.dirtyRatio
            maxRatio = max(maxRatio, ratio)
            let overdue = tombstonesDue || (earliestDirtyTimestamp(plan).map { now - $0 >= config.maxCompactionLagMs } ?? false)
            guard ratio >= config.minCleanableDirtyRatio || overdue else { continue }
            // Overdue logs first (Kafka's max compaction delay), then the dirtiest.
            let score = overdue ? 2 + ratio : ratio
            if score > best?.score ?? -1 { best = (name, log, plan, score) }
        }
        stats.withLock { $0.maxDirtyRatio = maxRatio }
        guard let best else { return false }
        return clean(best.log, name: best.name, plan: best.plan)
    }

    private func clean(_ log: PartitionLog, name: OffsetCheckpointFile.Key, plan: CleaningPlan) -> Bool {
        let started = clock()
        let needed = plan.segments.filter { $0.nextBase > plan.firstDirtyOffset }.reduce(Int64(0)) { $0 + $1.size }
        // The map needs a slot per dirty record at most; no record is smaller than 7 bytes + the
        // 61-byte batch it is in, so this bounds it without reading anything.
        let mapBytes = min(settings.dedupeBufferBytes, max(1 << 16, Int(needed / 8) * OffsetMap.bytesPerEntry))
        var throttle = Throttle(maxBytesPerSecond: settings.maxBytesPerSecond)
        do {
            guard let outcome = try SegmentCleaner.clean(plan, mapBytes: mapBytes, loadFactor: settings.loadFactor,
                                                         throttle: {
                                                             if self.stopRequested.load(ordering: .relaxed) { throw Stopped() }
                                                             throttle.account(totalBytes: $0)
                                                         }) else { return false }
            let swapped = try onOwner(of: log) { try log.swapIn(outcome) } ?? false
            guard swapped else {
                logger.info("cleaning abandoned: the log changed meanwhile", metadata: ["partition": "\(name.topic)-\(name.partition)"])
                return false
            }
            condition.lock()
            checkpoints[name] = outcome.cleanedThrough
            deleteHorizons[name] = outcome.earliestDeleteHorizonMs
            let snapshot = (checkpoints, deleteHorizons)
            condition.unlock()
            writeCheckpoints(snapshot)
            let ended = clock()
            stats.withLock {
                $0.runs += 1
                $0.bytesRead += outcome.bytesRead
                $0.bytesCleaned += outcome.bytesCleaned
                $0.bytesWritten += outcome.bytesWritten
                $0.recordsRemoved += outcome.recordsRemoved
                $0.lastRatio = outcome.bytesRead > 0 ? Double(outcome.bytesWritten) / Double(outcome.bytesRead) : 0
                $0.lastRunEndMs = ended
                $0.lastRunMs = ended - started
                $0.cleaningMs += ended - started
            }
            logger.info("cleaned", metadata: [
                "partition": "\(name.topic)-\(name.partition)", "cleanedThrough": "\(outcome.cleanedThrough)",
                "bytesCleaned": "\(outcome.bytesCleaned)", "bytesRead": "\(outcome.bytesRead)", "bytesWritten": "\(outcome.bytesWritten)",
                "recordsRemoved": "\(outcome.recordsRemoved)", "ms": "\(ended - started)"])
            return true
        } catch is Stopped {
            logger.info("cleaning stopped by the shutdown; the next start cleans again", metadata: ["partition": "\(name.topic)-\(name.partition)"])
            return false
        } catch {
            let retryMs = max(60_000, 4 * settings.backoffMs)
            condition.lock()
            failedUntil[name] = clock() + retryMs
            condition.unlock()
            stats.withLock { $0.failures += 1 }
            logger.error("cleaning failed; the log is left alone for a while", metadata: [
                "partition": "\(name.topic)-\(name.partition)", "error": "\(error)", "retryInMs": "\(retryMs)"])
            return false
        }
    }

    /// The first record time of the first dirty segment, read from its first batch header.
    private func earliestDirtyTimestamp(_ plan: CleaningPlan) -> Int64? {
        guard let segment = plan.segments.first(where: { $0.nextBase > plan.firstDirtyOffset }),
              let bytes = try? segment.file.read(at: 0, count: RecordBatchHeader.size),
              let header = try? RecordBatchHeader(peekingAt: ByteBuffer(bytes: bytes)) else { return nil }
        return header.deleteHorizonMs == nil && header.baseTimestamp > 0 ? header.baseTimestamp : nil
    }

    /// Runs `body` on the log's owner and waits for it (up to a minute: an owner that never runs
    /// it is shutting down).
    private func onOwner<T: Sendable>(of log: PartitionLog, _ body: @escaping @Sendable () throws -> T) rethrows -> T? {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = ConditionLock(value: 0)
        log.owner.execute {
            let value = Result { try body() }
            result.withLock { $0 = value }
            done.lock()
            done.unlock(withValue: 1)
        }
        guard done.lock(whenValue: 1, timeoutSeconds: 60) else { return nil }
        done.unlock()
        return try result.withLock { $0 }.map { try $0.get() }
    }

    private func writeCheckpoints(_ files: (checkpoints: [OffsetCheckpointFile.Key: Int64], horizons: [OffsetCheckpointFile.Key: Int64])) {
        do {
            try OffsetCheckpointFile.save(files.checkpoints, path: directory + "/" + Self.checkpointFile)
            try OffsetCheckpointFile.save(files.horizons, path: directory + "/" + Self.horizonFile)
        } catch {
            logger.warning("cannot write the cleaner checkpoint; a restart cleans again what was cleaned", metadata: ["error": "\(error)"])
        }
    }
}

/// `log.cleaner.io.max.bytes.per.second`: sleeps the cleaner thread when it runs ahead.
struct Throttle {
    let maxBytesPerSecond: Double
    private var startedNanoseconds: UInt64 = 0

    init(maxBytesPerSecond: Double) {
        self.maxBytesPerSecond = maxBytesPerSecond
    }

    mutating func account(totalBytes: Int64) {
        guard maxBytesPerSecond.isFinite, maxBytesPerSecond > 0 else { return }
        let now = StorageThreadWriter.monotonicNanoseconds()
        if startedNanoseconds == 0 { startedNanoseconds = now }
        let due = Double(totalBytes) / maxBytesPerSecond
        let elapsed = Double(now - startedNanoseconds) / 1e9
        if due > elapsed { usleep(useconds_t(min((due - elapsed) * 1e6, 10e6))) }
    }
}
