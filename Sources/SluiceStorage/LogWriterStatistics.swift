import Synchronization

/// Counters a writer keeps, for benchmarks and metrics: how many write and fdatasync calls it
/// made, how many bytes it wrote, and how many groups (storage-thread rounds) it ran.
public final class LogWriterStatistics: Sendable {
    private let writes = Atomic<Int>(0)
    private let syncs = Atomic<Int>(0)
    private let bytes = Atomic<Int>(0)
    private let groups = Atomic<Int>(0)
    private let observer = Mutex<(@Sendable (StorageRound) -> Void)?>(nil)

    public init() {}

    /// Called after every storage round (a group of writes, with or without fdatasync) with
    /// its duration; set once, by whoever exports metrics.
    public func observeRounds(_ body: @escaping @Sendable (StorageRound) -> Void) {
        observer.withLock { $0 = body }
    }

    public var writeCount: Int { writes.load(ordering: .relaxed) }
    public var syncCount: Int { syncs.load(ordering: .relaxed) }
    public var bytesWritten: Int { bytes.load(ordering: .relaxed) }
    public var groupCount: Int { groups.load(ordering: .relaxed) }

    func recordGroup(writes writeCount: Int, bytes byteCount: Int, syncs syncCount: Int, nanoseconds: UInt64 = 0) {
        if let observe = observer.withLock({ $0 }) {
            observe(StorageRound(writes: writeCount, bytes: byteCount, syncs: syncCount, nanoseconds: nanoseconds))
        }
        writes.wrappingAdd(writeCount, ordering: .relaxed)
        bytes.wrappingAdd(byteCount, ordering: .relaxed)
        syncs.wrappingAdd(syncCount, ordering: .relaxed)
        groups.wrappingAdd(1, ordering: .relaxed)
    }
}

/// One round of the storage thread: what it wrote and synced, and how long it took.
public struct StorageRound: Sendable {
    public var writes: Int
    public var bytes: Int
    /// Files fdatasynced in this round (0: buffered writes only).
    public var syncs: Int
    public var nanoseconds: UInt64
}
