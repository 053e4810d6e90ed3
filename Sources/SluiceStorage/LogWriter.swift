import Logging
import NIOCore

/// One write (or, with empty `data`, only a sync) for the storage thread.
public struct WriteRequest: Sendable {
    public let file: SegmentFile
    public let position: Int64
    public let data: ByteBuffer
    /// Complete only after an fdatasync of `file` that covers this write.
    public let sync: Bool
    /// Runs on the storage thread once the write (and sync) finished or failed.
    public let completion: @Sendable (Result<Void, StorageError>) -> Void

    public init(file: SegmentFile, position: Int64, data: ByteBuffer, sync: Bool,
                completion: @escaping @Sendable (Result<Void, StorageError>) -> Void) {
        self.file = file
        self.position = position
        self.data = data
        self.sync = sync
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

/// Creates the writer for `backend`; falls back from io_uring to pwrite when the ring cannot be
/// created (old kernel, seccomp, sandbox). `fallbackReason` says why when that happened.
public func makeLogWriter(backend: LogWriterBackend, depth: Int = 64, maxQueuedBytes: Int = 64 << 20,
                          logger: Logger? = nil) -> (writer: any LogWriter, fallbackReason: String?) {
    let made = makeWriter(backend: backend, depth: depth, maxQueuedBytes: maxQueuedBytes)
    if let reason = made.fallbackReason {
        logger?.warning("io_uring unavailable; log I/O uses pwrite", metadata: ["reason": "\(reason)"])
    } else {
        logger?.info("log I/O back end", metadata: ["backend": "\(made.writer.backendName)", "depth": "\(depth)"])
    }
    return made
}

private func makeWriter(backend: LogWriterBackend, depth: Int, maxQueuedBytes: Int) -> (writer: any LogWriter, fallbackReason: String?) {
    switch backend {
    case .pwrite:
        return (StorageThreadWriter(backend: PwriteBackend(), name: "pwrite", maxQueuedBytes: maxQueuedBytes), nil)
    case .ioUring, .automatic:
        switch URingBackend.make(depth: depth) {
        case .success(let uring):
            return (StorageThreadWriter(backend: uring, name: "io_uring", maxQueuedBytes: maxQueuedBytes), nil)
        case .failure(let unavailable):
            return (StorageThreadWriter(backend: PwriteBackend(), name: "pwrite", maxQueuedBytes: maxQueuedBytes), unavailable.reason)
        }
    }
}
