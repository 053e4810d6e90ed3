import Synchronization

/// Counters a writer keeps, for benchmarks and metrics: how many write and fdatasync calls it
/// made, how many bytes it wrote, and how many groups (storage-thread rounds) it ran.
public final class LogWriterStatistics: Sendable {
    private let writes = Atomic<Int>(0)
    private let syncs = Atomic<Int>(0)
    private let bytes = Atomic<Int>(0)
    private let groups = Atomic<Int>(0)

    public init() {}

    public var writeCount: Int { writes.load(ordering: .relaxed) }
    public var syncCount: Int { syncs.load(ordering: .relaxed) }
    public var bytesWritten: Int { bytes.load(ordering: .relaxed) }
    public var groupCount: Int { groups.load(ordering: .relaxed) }

    func recordGroup(writes writeCount: Int, bytes byteCount: Int, syncs syncCount: Int) {
        writes.wrappingAdd(writeCount, ordering: .relaxed)
        bytes.wrappingAdd(byteCount, ordering: .relaxed)
        syncs.wrappingAdd(syncCount, ordering: .relaxed)
        groups.wrappingAdd(1, ordering: .relaxed)
    }
}
