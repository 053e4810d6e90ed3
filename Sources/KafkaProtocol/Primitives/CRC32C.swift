import CSluiceCodecs
import NIOCore

/// CRC-32C (Castagnoli), the checksum of record batch v2. Uses SSE4.2 or the ARMv8 CRC
/// instructions when the CPU has them, a slicing-by-8 table otherwise.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        sluice_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    public static func checksum(_ buffer: ByteBuffer) -> UInt32 {
        buffer.withUnsafeReadableBytes { checksum($0) }
    }

    /// The table implementation, whatever the CPU; for tests and benchmarks.
    public static func portableChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        sluice_crc32c_portable(crc, bytes.baseAddress, bytes.count)
    }

    public static var usesHardware: Bool { sluice_crc32c_is_hardware() != 0 }
}
