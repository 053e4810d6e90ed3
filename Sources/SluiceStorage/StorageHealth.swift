import Synchronization

/// What the logs of one broker found wrong with their files, for /metrics: batches that failed
/// their check when first read (served to no one), what recovery cut from torn or damaged tails
/// after an unclean stop, and whether an append last ran out of space. Shared by every partition.
public final class StorageHealth: Sendable {
    private let corrupt = Atomic<Int>(0)
    private let diskFull = Atomic<Bool>(false)
    private let diskFullEvents = Atomic<Int>(0)
    private let truncatedBytes = Atomic<Int>(0)
    private let truncatedRecords = Atomic<Int>(0)

    public init() {}

    public var corruptBatchesFound: Int { corrupt.load(ordering: .relaxed) }
    public var recoveryTruncatedBytes: Int { truncatedBytes.load(ordering: .relaxed) }
    /// Records in the batches recovery cut, as far as their headers could still be read.
    public var recoveryTruncatedRecords: Int { truncatedRecords.load(ordering: .relaxed) }

    /// An append failed for want of space and no one has seen room since (`diskHasRoom`).
    public var isDiskFull: Bool { diskFull.load(ordering: .acquiring) }
    /// Appends that failed for want of space.
    public var diskFullFailures: Int { diskFullEvents.load(ordering: .relaxed) }

    func recordDiskFull() {
        diskFullEvents.wrappingAdd(1, ordering: .relaxed)
        diskFull.store(true, ordering: .releasing)
    }

    /// The broker found room again (its own check of the file system).
    public func diskHasRoom() { diskFull.store(false, ordering: .releasing) }

    func recordCorruptBatch() { corrupt.wrappingAdd(1, ordering: .relaxed) }

    func recordTruncation(bytes: Int64, records: Int64) {
        truncatedBytes.wrappingAdd(Int(bytes), ordering: .relaxed)
        truncatedRecords.wrappingAdd(Int(records), ordering: .relaxed)
    }
}
