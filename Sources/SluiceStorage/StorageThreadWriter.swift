import CSluiceUring
import Glibc
import NIOConcurrencyHelpers
import Synchronization

/// A `LogWriter` that owns one thread and one I/O back end (an io_uring ring, or pwrite).
/// Submissions from any thread queue up; the thread takes everything queued as one group.
final class StorageThreadWriter: LogWriter, @unchecked Sendable {
    // @unchecked: `pending` and `stopping` are guarded by `condition`; `backend` is used only
    // on the storage thread.
    private let condition = ConditionLock(value: 0)
    private var pending: [WriteRequest] = []
    private var stopping = false
    private var thread: pthread_t?
    private let backend: any IOBackend
    /// Runs background syncs (`WriteRequest.background`): a second storage thread, handed each
    /// one once the writes queued before it are made, so it still covers them while appends go
    /// on. Nil on that second thread itself, which runs every request it gets.
    private let backgroundSyncs: StorageThreadWriter?
    let backendName: String
    let statistics = LogWriterStatistics()
    /// Bytes submitted and not yet completed; past `maxQueuedBytes` the writer is congested.
    private let queuedBytes = Atomic<Int>(0)
    private let maxQueuedBytes: Int
    /// Waiting for the queue to drain (guarded by `condition`).
    private var uncongestedWaiters: [@Sendable () -> Void] = []

    private static let idle = 0
    private static let hasWork = 1

    init(backend: any IOBackend, name: String, maxQueuedBytes: Int = 64 << 20, runsBackgroundSyncsApart: Bool = true) {
        self.backend = backend
        // A group of syncs without data is what PwriteBackend does inline: fdatasync per file.
        self.backgroundSyncs = runsBackgroundSyncsApart
            ? StorageThreadWriter(backend: PwriteBackend(), name: name + " background syncs", runsBackgroundSyncsApart: false) : nil
        self.backendName = name
        self.maxQueuedBytes = max(1, maxQueuedBytes)
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { argument in
            let writer = Unmanaged<StorageThreadWriter>.fromOpaque(argument!).takeRetainedValue()
            writer.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "cannot start the storage thread: \(rc)")
        thread = handle
    }

    func submit(_ request: WriteRequest) {
        condition.lock()
        if stopping {
            condition.unlock()
            request.completion(.failure(.shutDown))
            return
        }
        pending.append(request)
        queuedBytes.wrappingAdd(request.data.readableBytes, ordering: .relaxed)
        condition.unlock(withValue: Self.hasWork)
    }

    func submit(_ requests: [WriteRequest]) {
        condition.lock()
        if stopping {
            condition.unlock()
            for request in requests { request.completion(.failure(.shutDown)) }
            return
        }
        pending.append(contentsOf: requests)
        queuedBytes.wrappingAdd(requests.reduce(0) { $0 + $1.data.readableBytes }, ordering: .relaxed)
        condition.unlock(withValue: Self.hasWork)
    }

    var isCongested: Bool { queuedBytes.load(ordering: .relaxed) > maxQueuedBytes }

    func whenUncongested(_ work: @escaping @Sendable () -> Void) {
        condition.lock()
        guard isCongested && !stopping else {
            condition.unlock()
            work()
            return
        }
        uncongestedWaiters.append(work)
        condition.unlock()
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    func shutdown() {
        condition.lock()
        stopping = true
        condition.unlock(withValue: Self.hasWork)
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
        backgroundSyncs?.shutdown()
    }

    /// Past this many bytes written to a file and not synced, its writeback starts
    /// (sync_file_range, no wait), as RocksDB's bytes_per_sync does.
    static let writebackBytes: Int64 = 8 << 20

    /// Starts the kernel writing back what the group wrote and no fdatasync covered, once a
    /// file has `writebackBytes` of it. Without this, background flushing leaves up to a whole
    /// segment (1 GiB) dirty until the flush at roll, and ext4 then stalls every writer while it
    /// writes that out in one go (the flush's journal commit waits for it): p99 of ~1 s at
    /// 100 MB/s. Small steady writeback keeps the final flush short.
    private func startWriteback(_ group: [WriteRequest]) {
        // Durable appends (the default) sync what they write: nothing to start.
        guard group.contains(where: { !$0.sync && $0.data.readableBytes > 0 }) else { return }
        var ends: [ObjectIdentifier: (file: SegmentFile, end: Int64)] = [:]
        var synced = Set<ObjectIdentifier>()
        for request in group where request.data.readableBytes > 0 || request.sync {
            let key = ObjectIdentifier(request.file)
            if request.sync { synced.insert(key) }
            let end = request.position + Int64(request.data.readableBytes)
            if end > ends[key]?.end ?? 0 { ends[key] = (request.file, end) }
        }
        for (key, entry) in ends {
            let file = entry.file
            if synced.contains(key) {
                file.writebackStart = max(file.writebackStart, entry.end)
            } else if entry.end - file.writebackStart >= Self.writebackBytes {
                _ = sluice_start_writeback(file.descriptor, file.writebackStart, entry.end - file.writebackStart)
                file.writebackStart = entry.end
            }
        }
    }

    /// Waking the second thread for nothing would cost a context switch per group.
    private func submitBackground(_ background: [WriteRequest]) {
        if !background.isEmpty { backgroundSyncs?.submit(background) }
    }

    private func run() {
        // SCHED_BATCH: a submission wakes this thread without preempting the event loop that
        // made it. Where both share a core, the loop finishes its turn (more appends join the
        // group) before the writes start, instead of switching threads for every request.
        _ = sluice_configure_current_thread(backgroundSyncs == nil ? "sluice-syncs" : "sluice-storage", 1)
        while true {
            condition.lock(whenValue: Self.hasWork)
            var group = pending
            pending.removeAll(keepingCapacity: true)
            // Background syncs go to their own thread once this group's writes are made (they
            // must cover every write queued before them); nothing here waits for them.
            let background = backgroundSyncs == nil ? [] : group.filter(\.background)
            if !background.isEmpty { group.removeAll(where: \.background) }
            let stop = stopping
            condition.unlock(withValue: Self.idle)
            if group.isEmpty {
                submitBackground(background)
            } else {
                let started = Self.monotonicNanoseconds()
                let results = backend.perform(group)
                statistics.recordGroup(
                    writes: group.count { $0.data.readableBytes > 0 },
                    bytes: group.reduce(0) { $0 + $1.data.readableBytes },
                    syncs: filesToSync(group).count,
                    nanoseconds: Self.monotonicNanoseconds() &- started)
                for (request, result) in zip(group, results) {
                    request.completion(result)
                }
                startWriteback(group)
                submitBackground(background)
                let left = queuedBytes.wrappingSubtract(group.reduce(0) { $0 + $1.data.readableBytes }, ordering: .relaxed).newValue
                if left <= maxQueuedBytes / 2 || stop {
                    condition.lock()
                    let waiters = uncongestedWaiters
                    uncongestedWaiters.removeAll()
                    condition.unlock()
                    waiters.forEach { $0() }
                }
            }
            if stop {
                // Anything submitted between taking the group and seeing `stopping` is failed by
                // submit() itself, so the queue is empty here.
                return
            }
        }
    }
}
