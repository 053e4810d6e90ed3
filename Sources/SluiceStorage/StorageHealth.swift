import Synchronization

/// What the logs of one broker found wrong with their files, for /metrics: batches that failed
/// their check when first read (served to no one), and what recovery cut from torn or damaged
/// tails after an unclean stop. Shared by every partition; counters only.
public final class StorageHealth: Sendable {
    private let corrupt = Atomic<Int>(0)
    private let truncatedBytes = Atomic<Int>(0)
    private let truncatedRecords = Atomic<Int>(0)

    public init() {}

    public var corruptBatchesFound: Int { corrupt.load(ordering: .relaxed) }
    public var recoveryTruncatedBytes: Int { truncatedBytes.load(ordering: .relaxed) }
    /// Records in the batches recovery cut, as far as their headers could still be read.
    public var recoveryTruncatedRecords: Int { truncatedRecords.load(ordering: .relaxed) }

    func recordCorruptBatch() { corrupt.wrappingAdd(1, ordering: .relaxed) }

    func recordTruncation(bytes: Int64, records: Int64) {
        truncatedBytes.wrappingAdd(Int(bytes), ordering: .relaxed)
        truncatedRecords.wrappingAdd(Int(records), ordering: .relaxed)
    }
}
