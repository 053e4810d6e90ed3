import Logging
import NIOCore

/// One write (or, with empty `data`, only a sync) for the storage thread.
public struct WriteRequest: Sendable {
    public let file: SegmentFile
    public let position: Int64
    public let data: ByteBuffer
    /// Complete only after an fdatasync of `file` that covers this write.
    public let sync: Bool
    /// A sync (no data) that nothing appended waits for: Kafka-style background flushing, and
    /// the flush of a segment that was just rolled. It still covers every write submitted
    /// before it, but runs on its own thread, so a slow fdatasync of a large segment does not hold
    /// up the appends behind it (a 1 GiB segment's flush stalled every partition for ~0.6 s).
    public let background: Bool
    /// Runs on the storage thread (for a background sync, on the thread that syncs it) once the write
    /// (and sync) finished or failed.
    public let completion: @Sendable (Result<Void, StorageError>) -> Void

    public init(file: SegmentFile, position: Int64, data: ByteBuffer, sync: Bool, background: Bool = false,
                completion: @escaping @Sendable (Result<Void, StorageError>) -> Void) {
        precondition(!background || (sync && data.readableBytes == 0), "a background request is a sync without data")
        self.file = file
        self.position = position
        self.data = data
        self.sync = sync
        self.background = background
        self.completion = completion
    }
}

/// The one place that decides how log bytes reach the disk and when they are fsynced.
///
/// Requests run in submission order. Everything queued while the thread was busy is handled as
/// one group: all writes first, then one fdatasync per file that any request in the group needs
/// synced (group commit across partitions), then the completions, in order.
public protocol LogWriter: Sendable {
    /// "io_uring" or "pwrite", for the start-up log line.
    var backendName: String { get }
    var statistics: LogWriterStatistics { get }
    func submit(_ request: WriteRequest)
    /// Queues requests so they are carried out in one group (one vectored write where they
    /// are contiguous, one outcome for their file).
    func submit(_ requests: [WriteRequest])
    /// Finishes what is queued, then stops; later submissions fail with `StorageError.shutDown`.
    func shutdown()
    /// More bytes are queued or being written than the disk should be handed: the broker stops
    /// taking new produce requests until it drains (a slow disk pushes back on producers).
    var isCongested: Bool { get }
    /// Runs `work` (on the storage thread) once the queue has drained below half its limit, or
    /// at once when it is not congested.
    func whenUncongested(_ work: @escaping @Sendable () -> Void)
}

/// Which I/O back end to use.
public enum LogWriterBackend: String, Sendable, CaseIterable {
    /// io_uring when the kernel allows it, else pwrite (and the choice is logged).
    case automatic
    case ioUring = "io_uring"
    case pwrite
}

/// How the io_uring back end makes its writes (fdatasyncs of several files always go through the
/// ring, in parallel).
public enum URingWritePath: String, Sendable, CaseIterable {
    /// On the storage thread, on every file system: measured faster than through the ring both
    /// on ext4, which takes no non-blocking buffered write (io_uring hands each to an io-wq
    /// worker), and on XFS, which takes them inline (storage bench, alternating rounds, 14 of 16
    /// rows). The probe's answer (`BufferedWriteProbe`) goes to the start-up log.
    case automatic
    /// Always through the ring (on ext4, every write then runs on an io-wq worker thread).
    case ring
    /// Always on the storage thread.
    case inline
}

/// Creates the writer for `backend`; falls back from io_uring to pwrite when the ring cannot be
/// created (old kernel, seccomp, sandbox). `fallbackReason` says why when that happened.
/// `directory` is the data directory, probed for the start-up log only (`BufferedWriteProbe`).
public func makeLogWriter(backend: LogWriterBackend, directory: String? = nil, uringWrites: URingWritePath = .automatic,
                          depth: Int = 64, maxQueuedBytes: Int = 64 << 20,
                          logger: Logger? = nil) -> (writer: any LogWriter, fallbackReason: String?) {
    let writesInRing = uringWrites == .ring
    var probeNote = writesInRing ? "ring" : "storage thread"
    if uringWrites == .automatic, backend != .pwrite {
        let answer = directory.map { BufferedWriteProbe.probe(directory: $0) } ?? .unknown(reason: "no directory given")
        switch answer {
        case .nonBlocking: probeNote = "storage thread (the file system takes non-blocking buffered writes; the ring still measured slower)"
        case .blocking: probeNote = "storage thread (the file system takes no non-blocking buffered write: through the ring each would run on an io_uring worker thread)"
        case .unknown(let reason): probeNote = "storage thread (\(reason))"
        }
    }
    let made = makeWriter(backend: backend, writesInRing: writesInRing, depth: depth, maxQueuedBytes: maxQueuedBytes)
    if let reason = made.fallbackReason {
        logger?.warning("io_uring unavailable; log I/O uses pwrite", metadata: ["reason": "\(reason)"])
    } else if made.writer.backendName.hasPrefix("io_uring") {
        logger?.info("log I/O back end", metadata: ["backend": "io_uring", "depth": "\(depth)", "writes": "\(probeNote)",
                                                    "fdatasyncs": "through the ring"])
    } else {
        logger?.info("log I/O back end", metadata: ["backend": "\(made.writer.backendName)"])
    }
    return made
}

private func makeWriter(backend: LogWriterBackend, writesInRing: Bool, depth: Int,
                        maxQueuedBytes: Int) -> (writer: any LogWriter, fallbackReason: String?) {
    switch backend {
    case .pwrite:
        return (StorageThreadWriter(backend: PwriteBackend(), name: "pwrite", maxQueuedBytes: maxQueuedBytes), nil)
    case .ioUring, .automatic:
        switch URingBackend.make(depth: depth, writesInRing: writesInRing) {
        case .success(let uring):
            return (StorageThreadWriter(backend: uring, name: writesInRing ? "io_uring" : "io_uring, writes inline",
                                        maxQueuedBytes: maxQueuedBytes), nil)
        case .failure(let unavailable):
            return (StorageThreadWriter(backend: PwriteBackend(), name: "pwrite", maxQueuedBytes: maxQueuedBytes), unavailable.reason)
        }
    }
}
