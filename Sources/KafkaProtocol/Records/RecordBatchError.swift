/// Why bytes are not a valid record batch.
public enum RecordBatchError: Error, Hashable, Sendable {
    /// Fewer bytes than the batch header or its declared length need.
    case truncated(needed: Int, available: Int)
    /// `batchLength` is smaller than a batch header or otherwise impossible.
    case invalidBatchLength(Int32)
    /// Magic 0 and 1 (old message sets) are recognised and refused; anything else is unknown.
    case unsupportedMagic(Int8)
    /// The CRC-32C stored in the header does not match the bytes.
    case crcMismatch(stored: UInt32, computed: UInt32)
    /// Compression bits name no codec (5, 6 or 7).
    case unknownCompression(Int16)
    /// `recordCount` is negative or larger than the bytes could hold.
    case invalidRecordCount(Int32)
    /// The records section holds a different number of records than the header declares.
    case recordCountMismatch(declared: Int32, found: Int)
    /// A record inside the batch is malformed.
    case malformedRecord(String)
}
