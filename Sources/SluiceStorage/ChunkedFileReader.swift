import NIOCore

/// Sequential reads of a segment in 1 MiB chunks, for the scans that walk every batch
/// (recovery, index rebuilds) without a syscall per batch.
struct ChunkedFileReader {
    let file: SegmentFile
    private var window = ByteBuffer()
    private var windowStart: Int64 = 0
    private let chunkSize: Int

    init(file: SegmentFile, chunkSize: Int = 1 << 20) {
        self.file = file
        self.chunkSize = chunkSize
    }

    /// `count` bytes at `position`, fewer at the end of the file.
    mutating func bytes(at position: Int64, count: Int) throws -> ByteBuffer {
        let inWindow = position >= windowStart && position + Int64(count) <= windowStart + Int64(window.readableBytes)
        if !inWindow {
            // Refill in place: the buffer's storage is reused when nothing else holds it.
            window.clear()
            try file.read(at: position, count: max(count, chunkSize), appendingTo: &window)
            windowStart = position
        }
        let offset = Int(position - windowStart)
        return window.getSlice(at: offset, length: max(0, min(count, window.readableBytes - offset)))!
    }
}
