import Glibc
import NIOCore

/// An open segment file. Reads hand this object out with each file region, so the descriptor
/// stays open for as long as any fetch still sends from it: retention unlinks the path, and the
/// descriptor closes when the last reference goes away.
public final class SegmentFile: @unchecked Sendable {
    // Sendable: the descriptor and path are immutable, the kernel serializes I/O on fd, and
    // `writebackStart` belongs to the storage thread.
    public let descriptor: Int32
    public let path: String
    /// Where the storage thread last started writeback (`StorageThreadWriter`); only that
    /// thread reads or writes it.
    nonisolated(unsafe) var writebackStart: Int64 = 0

    public init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    /// Opens (creating when asked) for reading and writing.
    public static func open(path: String, create: Bool) throws -> SegmentFile {
        var flags = O_RDWR | O_CLOEXEC
        if create { flags |= O_CREAT }
        let fd = Glibc.open(path, flags, 0o644)
        guard fd >= 0 else { throw StorageError.io(errno: errno, operation: "open", path: path) }
        return SegmentFile(descriptor: fd, path: path)
    }

    deinit {
        Glibc.close(descriptor)
    }

    public func size() throws -> Int64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw StorageError.io(errno: errno, operation: "fstat", path: path)
        }
        return Int64(info.st_size)
    }

    /// Reads exactly `count` bytes at `offset`, or fewer at end of file.
    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(errno: errno, operation: "pread", path: path)
            }
            if n == 0 { break }
            done += n
        }
        if done < count { bytes.removeLast(count - done) }
        return bytes
    }

    /// Appends up to `count` bytes read at `offset` to `buffer` (fewer at end of file), with no
    /// intermediate array: the scans that check every batch read through this.
    public func read(at offset: Int64, count: Int, appendingTo buffer: inout ByteBuffer) throws {
        var done = 0
        while done < count {
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { raw in
                pread(descriptor, raw.baseAddress, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(errno: errno, operation: "pread", path: path)
            }
            if n == 0 { break }
            done += n
        }
    }

    public func truncate(to size: Int64) throws {
        guard ftruncate(descriptor, off_t(size)) == 0 else {
            throw StorageError.io(errno: errno, operation: "ftruncate", path: path)
        }
    }

    public func sync() throws {
        guard fdatasync(descriptor) == 0 else {
            throw StorageError.io(errno: errno, operation: "fdatasync", path: path)
        }
    }
}

/// A byte range of a segment file, for the broker to hand to sendfile.
public struct FileRegionSlice: Sendable {
    public let file: SegmentFile
    public let position: Int64
    public let length: Int

    public init(file: SegmentFile, position: Int64, length: Int) {
        self.file = file
        self.position = position
        self.length = length
    }

    /// The bytes, copied: for tests and for consumers that are not sockets.
    public func readBytes() throws -> [UInt8] {
        try file.read(at: position, count: length)
    }
}
