import Glibc

/// An aborted transaction as Kafka's `.txnindex` records it: the producer, the offsets its data
/// spans up to its ABORT marker (`lastOffset`), and the last stable offset when it ended, so a
/// read_committed fetch knows where its search for aborted transactions may stop.
public struct AbortedTransaction: Hashable, Sendable {
    public let producerId: Int64
    public let firstOffset: Int64
    public let lastOffset: Int64
    public let lastStableOffset: Int64

    public init(producerId: Int64, firstOffset: Int64, lastOffset: Int64, lastStableOffset: Int64) {
        self.producerId = producerId
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.lastStableOffset = lastStableOffset
    }

    /// Kafka's entry: version int16 (0), then the four int64s, big-endian.
    static let size = 34

    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.size)
        bytes.appendBigEndian(UInt16(0))
        for value in [producerId, firstOffset, lastOffset, lastStableOffset] { bytes.appendBigEndian(UInt64(bitPattern: value)) }
        return bytes
    }
}

/// One segment's aborted transactions, `<base>.txnindex` (Kafka's TransactionIndex): entries in
/// the order their markers were written, the file created on the first abort (no file: none).
/// Entries are written as markers are appended; one a crash lost is written again when the log
/// replays its markers at the next start, and one whose marker a crash lost is dropped then.
/// Used on the log's owner only.
final class TransactionIndex {
    let path: String
    private(set) var entries: [AbortedTransaction]
    /// Entries written since the file was last synced (a clean close syncs them: a restart
    /// after it replays the log only from there).
    private var unsynced = false

    /// Loads the file if there is one; a torn last entry is ignored, an entry of an unknown
    /// version ends the list (written by a newer broker: left for it).
    init(path: String) {
        self.path = path
        entries = []
        guard let bytes = readWholeFile(path: path) else { return }
        var at = 0
        while at + AbortedTransaction.size <= bytes.count {
            guard bytes[at] == 0, bytes[at + 1] == 0 else { break }
            entries.append(AbortedTransaction(producerId: bytes.readBigEndianInt64(at: at + 2), firstOffset: bytes.readBigEndianInt64(at: at + 10),
                                              lastOffset: bytes.readBigEndianInt64(at: at + 18),
                                              lastStableOffset: bytes.readBigEndianInt64(at: at + 26)))
            at += AbortedTransaction.size
        }
        if at != bytes.count { try? rewrite() }
    }

    func contains(lastOffset: Int64) -> Bool {
        entries.contains { $0.lastOffset == lastOffset }
    }

    /// Adds an entry. Markers arrive in offset order, so it goes at the end; a replay after a
    /// crash may find a later entry on disk before an earlier one it lost, and puts it in place.
    func append(_ entry: AbortedTransaction) throws {
        if let last = entries.last, last.lastOffset >= entry.lastOffset {
            entries.insert(entry, at: entries.firstIndex { $0.lastOffset > entry.lastOffset } ?? entries.count)
            return try rewrite()
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(errno: errno, operation: "open", path: path) }
        defer { close(fd) }
        let bytes = entry.bytes
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            let code = errno
            // A short write leaves a torn entry: put the file back as it was.
            _ = ftruncate(fd, off_t(entries.count * AbortedTransaction.size))
            throw code == ENOSPC || code == EDQUOT ? StorageError.diskFull(path: path)
                : StorageError.io(errno: code, operation: "write", path: path)
        }
        entries.append(entry)
        unsynced = true
    }

    /// Drops the entries whose marker is at or past `offset` (a truncated segment).
    func truncate(from offset: Int64) throws {
        guard let first = entries.firstIndex(where: { $0.lastOffset >= offset }) else { return }
        entries.removeSubrange(first...)
        try rewrite()
    }

    /// Replaces the entries (a cleaned segment takes those of the segments it replaces).
    func replace(with entries: [AbortedTransaction]) throws {
        self.entries = entries
        try rewrite()
    }

    func syncIfNeeded() throws {
        guard unsynced else { return }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.io(errno: errno, operation: "open", path: path) }
        defer { close(fd) }
        guard fdatasync(fd) == 0 else { throw StorageError.io(errno: errno, operation: "fdatasync", path: path) }
        unsynced = false
    }

    private func rewrite() throws {
        if entries.isEmpty {
            unlink(path)
            unsynced = false
            return
        }
        try writeFileAtomically(path: path, bytes: entries.flatMap(\.bytes), sync: false)
        unsynced = true
    }
}
