import Glibc
import KafkaProtocol
import NIOCore

/// One record of the metadata log as stored: the epoch of the leader that appended it, its
/// value, and whether it is a control record (a LeaderChangeMessage).
public struct MetadataLogRecord: Sendable, Equatable {
    public var epoch: Int32
    public var payload: [UInt8]
    public var isControl: Bool

    public init(epoch: Int32, payload: [UInt8], isControl: Bool) {
        self.epoch = epoch
        self.payload = payload
        self.isControl = isControl
    }
}

/// The metadata log on disk, `__cluster_metadata-0/` as Kafka lays it out: one segment of v2
/// record batches named by its base offset (each batch stamped with its leader epoch; a control
/// batch holds a LeaderChangeMessage under Kafka's control key, type 2), and snapshots named
/// `<end offset>-<epoch>.checkpoint`. The log is small by design (snapshots bound it), so every
/// record is also held in memory and reads never touch the disk; the file is for durability.
///
/// Opening recovers: batches are read in order and the first torn or corrupt one ends the log
/// (the file is cut there). Owned by one thread (the quorum's); not thread-safe.
public final class MetadataLogStore {
    public static let directoryName = "__cluster_metadata-0"

    public let directory: String
    public private(set) var startOffset: Int64 = 0
    public private(set) var records: [MetadataLogRecord] = []
    public private(set) var flushedEndOffset: Int64 = 0
    /// Snapshot ids (end offset, epoch), oldest first.
    public private(set) var snapshotIds: [(offset: Int64, epoch: Int32)] = []
    /// What recovery cut from the end of the segment (bytes), for the log line at start.
    public private(set) var recoveredTruncatedBytes = 0

    private var segmentBase: Int64 = 0
    private var descriptor: Int32 = -1
    private var fileSize: Int64 = 0
    /// The file position of each batch and its first offset, to cut the file at a batch.
    private var batches: [(baseOffset: Int64, position: Int64)] = []
    private var dirty = false
    /// Snapshots kept besides the latest, so that a follower fetching one can finish.
    private let olderSnapshotsKept = 2

    public var endOffset: Int64 { startOffset + Int64(records.count) }

    public init(directory: String) throws {
        self.directory = directory
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw StorageError.io(errno: errno, operation: "mkdir", path: directory)
        }
        let names = listDirectory(directory) ?? []
        for name in names where name.hasSuffix(".checkpoint") {
            let parts = name.dropLast(".checkpoint".count).split(separator: "-")
            if parts.count == 2, let offset = Int64(parts[0]), let epoch = Int32(parts[1]) {
                snapshotIds.append((offset, epoch))
            }
        }
        for name in names where name.hasSuffix(".tmp") { unlink(directory + "/" + name) }
        snapshotIds.sort { $0.offset < $1.offset }
        let segments = names.filter { $0.hasSuffix(".log") }.compactMap { Int64($0.dropLast(4)) }.sorted()
        // Only the newest segment is live; an older one is left when a rewrite was cut short.
        for stale in segments.dropLast() { unlink(segmentPath(stale)) }
        segmentBase = segments.last ?? (snapshotIds.last?.offset ?? 0)
        try openSegment(create: segments.isEmpty)
        try recover()
        // A snapshot stored just before a crash, before the log was restarted at it.
        if let latest = snapshotIds.last, latest.offset > startOffset { try restartSegment(at: latest.offset) }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    private func segmentPath(_ base: Int64) -> String {
        directory + "/" + String(repeating: "0", count: max(0, 20 - String(base).count)) + String(base) + ".log"
    }

    private func snapshotPath(offset: Int64, epoch: Int32) -> String {
        let offsetText = String(offset), epochText = String(epoch)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - offsetText.count)) + offsetText + "-"
            + String(repeating: "0", count: max(0, 10 - epochText.count)) + epochText + ".checkpoint"
    }

    private func openSegment(create: Bool) throws {
        let path = segmentPath(segmentBase)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StorageError.io(errno: errno, operation: "open", path: path) }
        if create { try syncDirectory() }
    }

    private func recover() throws {
        guard let bytes = readWholeFile(path: segmentPath(segmentBase)) else {
            throw StorageError.io(errno: errno, operation: "read", path: segmentPath(segmentBase))
        }
        let size = bytes.count
        var buffer = ByteBuffer(bytes: bytes)
        startOffset = segmentBase
        var position: Int64 = 0
        while buffer.readableBytes > 0 {
            let batchStart = buffer.readerIndex
            guard let batch = try? RecordBatch.next(from: &buffer), (try? batch.verifyCRC()) != nil,
                  batch.header.baseOffset == endOffset,
                  let decoded = try? batch.records(decompressionLimit: 64 << 20),
                  decoded.count == Int(batch.header.recordCount) else {
                buffer.moveReaderIndex(to: batchStart)
                break
            }
            batches.append((batch.header.baseOffset, position))
            for record in decoded {
                records.append(MetadataLogRecord(epoch: batch.header.partitionLeaderEpoch,
                                                 payload: record.value.map { Array($0.readableBytesView) } ?? [],
                                                 isControl: batch.header.attributes.isControl))
            }
            position = Int64(buffer.readerIndex)
        }
        fileSize = position
        recoveredTruncatedBytes = size - Int(position)
        if recoveredTruncatedBytes > 0 {
            guard ftruncate(descriptor, off_t(position)) == 0, fdatasync(descriptor) == 0 else {
                throw StorageError.io(errno: errno, operation: "ftruncate", path: segmentPath(segmentBase))
            }
        }
        flushedEndOffset = endOffset
    }

    // MARK: Writing

    /// Appends records at the end, a batch per run of one epoch and kind. Durable after `flush`.
    public func append(_ newRecords: [MetadataLogRecord], timestampMs: Int64) throws {
        var index = 0
        while index < newRecords.count {
            let first = newRecords[index]
            var end = index + 1
            while end < newRecords.count, newRecords[end].epoch == first.epoch, newRecords[end].isControl == first.isControl {
                end += 1
            }
            try writeBatch(Array(newRecords[index..<end]), timestampMs: timestampMs)
            index = end
        }
    }

    private func writeBatch(_ batchRecords: [MetadataLogRecord], timestampMs: Int64) throws {
        guard let first = batchRecords.first else { return }
        var builder = RecordBatchBuilder(baseOffset: endOffset, isControl: first.isControl, partitionLeaderEpoch: first.epoch)
        for record in batchRecords {
            // A control record's key: version 0, type 2 (LEADER_CHANGE), as Kafka writes it.
            let key = first.isControl ? ByteBuffer(bytes: [0, 0, 0, 2]) : nil
            builder.append(key: key, value: ByteBuffer(bytes: record.payload), timestamp: timestampMs)
        }
        let encoded = try builder.build()
        try writeAll(Array(encoded.readableBytesView), at: fileSize)
        batches.append((endOffset, fileSize))
        fileSize += Int64(encoded.readableBytes)
        records += batchRecords
        dirty = true
    }

    private func writeAll(_ bytes: [UInt8], at offset: Int64) throws {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + written, bytes.count - written, off_t(offset) + off_t(written)) }
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                throw code == ENOSPC || code == EDQUOT
                    ? StorageError.diskFull(path: segmentPath(segmentBase))
                    : StorageError.io(errno: code, operation: "pwrite", path: segmentPath(segmentBase))
            }
            written += n
        }
    }

    /// The one place the metadata log is made durable.
    public func flush() throws {
        if dirty {
            guard fdatasync(descriptor) == 0 else { throw StorageError.io(errno: errno, operation: "fdatasync", path: segmentPath(segmentBase)) }
            dirty = false
        }
        flushedEndOffset = endOffset
    }

    /// Removes the records at `offset` and after (a follower whose log diverged).
    public func truncate(to offset: Int64) throws {
        guard offset < endOffset else { return }
        precondition(offset >= startOffset, "metadata log truncation to \(offset) below its start \(startOffset)")
        guard let batchIndex = batches.lastIndex(where: { $0.baseOffset <= offset }) else { return }
        let batch = batches[batchIndex]
        // The kept head of a batch cut in the middle is written again as a batch of its own.
        let keptOfBatch = Array(records[Int(batch.baseOffset - startOffset)..<Int(offset - startOffset)])
        guard ftruncate(descriptor, off_t(batch.position)) == 0 else {
            throw StorageError.io(errno: errno, operation: "ftruncate", path: segmentPath(segmentBase))
        }
        batches.removeSubrange(batchIndex...)
        records.removeSubrange(Int(batch.baseOffset - startOffset)...)
        fileSize = batch.position
        dirty = true
        try append(keptOfBatch, timestampMs: 0)
        try flush()
    }

    // MARK: Snapshots

    /// Stores a snapshot durably, then starts the log at its offset: the records below it are
    /// dropped (by writing the rest into a new segment named by that offset). A snapshot at or
    /// beyond the end replaces the whole log.
    public func storeSnapshot(offset: Int64, epoch: Int32, data: [UInt8]) throws {
        try writeFileAtomically(path: snapshotPath(offset: offset, epoch: epoch), bytes: data, sync: true)
        try syncDirectory()
        if !snapshotIds.contains(where: { $0.offset == offset && $0.epoch == epoch }) {
            snapshotIds.append((offset, epoch))
            snapshotIds.sort { $0.offset < $1.offset }
        }
        if offset > startOffset { try restartSegment(at: offset) }
        while snapshotIds.count > olderSnapshotsKept + 1 {
            let old = snapshotIds.removeFirst()
            unlink(snapshotPath(offset: old.offset, epoch: old.epoch))
        }
    }

    public func snapshotData(offset: Int64, epoch: Int32) -> [UInt8]? {
        guard snapshotIds.contains(where: { $0.offset == offset && $0.epoch == epoch }) else { return nil }
        return readWholeFile(path: snapshotPath(offset: offset, epoch: epoch))
    }

    private func restartSegment(at offset: Int64) throws {
        try flush()
        let kept = offset < endOffset ? Array(records[Int(offset - startOffset)...]) : []
        let oldBase = segmentBase, oldDescriptor = descriptor
        segmentBase = offset
        // A new segment that already holds the kept records, durable before the old one goes.
        let path = segmentPath(offset)
        unlink(path)
        startOffset = offset
        records = []
        batches = []
        fileSize = 0
        try openSegment(create: true)
        var index = 0
        while index < kept.count {
            let run = kept[index...].prefix { $0.epoch == kept[index].epoch && $0.isControl == kept[index].isControl }
            try writeBatch(Array(run), timestampMs: 0)
            index += run.count
        }
        try flush()
        close(oldDescriptor)
        unlink(segmentPath(oldBase))
        try syncDirectory()
    }

    private func syncDirectory() throws {
        guard SluiceStorage.syncDirectory(directory) else { throw StorageError.io(errno: errno, operation: "fsync", path: directory) }
    }
}
