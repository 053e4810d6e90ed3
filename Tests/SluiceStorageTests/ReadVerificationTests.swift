import Glibc
import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

/// Batches are checked the first time a read would serve them: a damaged one is never served,
/// reads stop short of it or fail at it, what follows stays readable, and it is counted once.
@Suite("Read verification")
struct ReadVerificationTests {
    /// Flips `count` bytes at `position` of a file.
    func damage(_ path: String, at position: Int64, count: Int) throws {
        let file = try SegmentFile.open(path: path, create: false)
        var bytes = try file.read(at: position, count: count)
        for index in bytes.indices { bytes[index] ^= 0xFF }
        _ = bytes.withUnsafeBytes { pwrite(file.descriptor, $0.baseAddress, count, off_t(position)) }
    }

    @Test func aDamagedBatchInAnOldSegmentIsRefusedAndTheRestStaysReadable() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 4096
        let health = StorageHealth()
        let harness = try LogHarness(directory: directory.path, config: config)
        for tag in 0..<30 { try harness.append(makeBatch(tag: tag, count: 2, timestamp: Int64(tag), valueSize: 300)) }
        try harness.reopen(clean: true)
        // Reopen with a health counter of our own, as the broker does.
        harness.log = try harness.owner.run {
            try PartitionLog(directory: directory.path, config: config, writer: harness.writer, owner: harness.owner,
                             files: harness.files, cleanShutdown: true, nowMs: harness.nowMs, logger: harness.logger, health: health)
        }
        let first = try #require(harness.read(from: 0, maxBytes: 1).first)
        let batchSize = Int64(first.header.totalSize)
        // The third batch of the first segment: offsets 4-5, bytes [2 * size, 3 * size).
        try damage(directory.path + "/00000000000000000000.log", at: 2 * batchSize + 80, count: 64)

        #expect(throws: StorageError.self) { _ = try harness.read(from: 4, maxBytes: 1) }
        #expect(throws: StorageError.self) { _ = try harness.read(from: 5, maxBytes: 1) }
        let before = try harness.read(from: 0, maxBytes: 1 << 20)
        #expect(before.map(\.header.baseOffset) == [0, 2], "a read from before the damage stops short of it")
        #expect(try harness.read(from: 6, maxBytes: 1).first?.header.baseOffset == 6, "what follows stays readable")
        #expect(health.corruptBatchesFound == 1, "counted once however often it is asked for")
        _ = try? harness.read(from: 4, maxBytes: 1)
        #expect(health.corruptBatchesFound == 1)
    }

    @Test func appendedBatchesAreNotReadBackToBeChecked() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try harness.append(makeBatch(tag: 0, count: 3, timestamp: 1, valueSize: 100))
        // Damage behind the log's back: the batch was checked when appended, so this process
        // serves it from its own verified range (a later start checks it again).
        let size = try harness.read(from: 0).first?.header.totalSize ?? 0
        try damage(directory.path + "/00000000000000000000.log", at: Int64(size) - 10, count: 4)
        #expect(try harness.read(from: 0).count == 1)
        try harness.reopen(clean: true)
        #expect(throws: StorageError.self) { _ = try harness.read(from: 0) }
    }
}
