import Glibc
import Logging
import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

@Suite("Recovery")
struct RecoveryTests {
    /// A single-segment log of `count` mixed batches (codecs, sizes, control batches), written
    /// through the log itself; returns the segment's bytes and each batch's (base, end position).
    static func buildLog(count: Int) throws -> (bytes: [UInt8], batches: [(base: Int64, last: Int64, start: Int, end: Int)]) {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.flushMessages = Int64.max
        let harness = try LogHarness(directory: directory.path, config: config, backend: .pwrite)
        var rng = SystemRandomNumberGenerator()
        for tag in 0..<count {
            let codec = CompressionCodec.allCases[tag % CompressionCodec.allCases.count]
            if tag % 17 == 16 {
                var control = RecordBatchBuilder(producerId: 7, producerEpoch: 0, isTransactional: true, isControl: true)
                var key = ByteBuffer()
                key.writeInteger(Int16(0))
                key.writeInteger(Int16(1))  // COMMIT marker
                control.append(key: key, value: ByteBuffer(bytes: [0, 0, 0, 0, 0, 0]), timestamp: Int64(tag))
                try harness.append(try control.build())
            } else {
                try harness.append(makeBatch(tag: tag, count: 1 + Int.random(in: 0..<6, using: &rng), timestamp: Int64(tag) * 100,
                                             compression: codec, valueSize: Int.random(in: 5..<120, using: &rng)))
            }
        }
        try harness.onOwner { try $0.closeCleanly() }
        let bytes = try SegmentFile.open(path: directory.path + "/00000000000000000000.log", create: false).read(at: 0, count: 1 << 24)
        var buffer = ByteBuffer(bytes: bytes)
        var batches: [(Int64, Int64, Int, Int)] = []
        var position = 0
        while let batch = try RecordBatch.next(from: &buffer) {
            batches.append((batch.header.baseOffset, batch.header.lastOffset, position, position + batch.header.totalSize))
            position += batch.header.totalSize
        }
        return (bytes, batches)
    }

    static func writeSegment(_ bytes: ArraySlice<UInt8>, into directory: String) throws {
        let file = try SegmentFile.open(path: directory + "/00000000000000000000.log", create: true)
        try file.truncate(to: 0)
        _ = bytes.withUnsafeBytes { raw in pwrite(file.descriptor, raw.baseAddress, raw.count, 0) }
    }

    /// Every byte position inside the last three batches: recovery keeps exactly the complete
    /// batches before the cut, and the rebuilt indexes serve reads.
    @Test(arguments: [LogWriterBackend.ioUring, .pwrite])
    func tornWritesRecoverToTheLastCompleteBatch(backend: LogWriterBackend) throws {
        let (bytes, batches) = try Self.buildLog(count: 200)
        let writer = makeLogWriter(backend: backend, uringWrites: .ring).writer
        defer { writer.shutdown() }
        let owner = TestOwner()
        let files = FileHandleCache(capacity: 16)
        let firstCut = batches[batches.count - 3].start
        var cases = 0
        for cut in firstCut..<bytes.count {
            let directory = TemporaryDirectory()
            try Self.writeSegment(bytes[0..<cut], into: directory.path)
            let complete = batches.filter { $0.end <= cut }
            let expectedEnd = (complete.last?.last ?? -1) + 1
            let log = try owner.run {
                try PartitionLog(directory: directory.path, config: LogConfig(), writer: writer, owner: owner,
                                 files: files, cleanShutdown: false, nowMs: 0, logger: quietLogger)
            }
            try owner.run {
                #expect(log.logEndOffset == expectedEnd, "cut at \(cut)")
                #expect(log.highWatermark <= log.logEndOffset)
                #expect(log.sizeInBytes == Int64(complete.last?.end ?? 0), "cut at \(cut)")
                // The rebuilt index finds batches anywhere in the log.
                for probe in [0, complete.count / 2, complete.count - 1] where probe >= 0 && probe < complete.count {
                    let target = complete[probe]
                    let result = try log.read(from: target.last, maxBytes: 1)
                    #expect(result.slices.first?.position == Int64(target.start), "cut at \(cut), probe \(probe)")
                }
            }
            cases += 1
        }
        print("torn writes (\(backend)): \(cases) cut positions recovered exactly")
        #expect(cases > 100)
    }

    /// Every bit of the last 2 KiB: the batch it lands in is never served again, and everything
    /// before that batch still is.
    @Test func everyBitFlipNearTheTailIsDetected() throws {
        let (bytes, batches) = try Self.buildLog(count: 120)
        let directory = TemporaryDirectory()
        try Self.writeSegment(bytes[...], into: directory.path)
        let file = try SegmentFile.open(path: directory.path + "/00000000000000000000.log", create: false)
        let loader = LogLoader(directory: directory.path, config: LogConfig(), files: FileHandleCache(capacity: 4),
                               maximumLeaderEpoch: 0, logger: quietLogger)
        let start = bytes.count - 2048
        var flips = 0
        var missed: [String] = []
        for byte in start..<bytes.count {
            let damagedBatch = batches.first { $0.start <= byte && byte < $0.end }!
            for bit in 0..<8 {
                var damaged = bytes[byte] ^ UInt8(1 << bit)
                _ = pwrite(file.descriptor, &damaged, 1, off_t(byte))
                let outcome = try loader.validate(file: file, fileSize: Int64(bytes.count), baseOffset: 0, nextBase: nil)
                if outcome.validBytes > Int64(damagedBatch.start) {
                    missed.append("byte \(byte) bit \(bit) (batch at \(damagedBatch.start))")
                }
                flips += 1
            }
            var original = bytes[byte]
            _ = pwrite(file.descriptor, &original, 1, off_t(byte))
        }
        print("bit flips: \(flips) flips in the last 2 KiB, \(missed.count) undetected")
        #expect(missed.isEmpty, "\(missed.prefix(10))")

        // And end to end for a sample: after reopening, the damaged batch is not readable.
        let writer = makeLogWriter(backend: .pwrite).writer
        defer { writer.shutdown() }
        let owner = TestOwner()
        for byte in stride(from: start, to: bytes.count, by: 97) {
            let damagedBatch = batches.first { $0.start <= byte && byte < $0.end }!
            let copy = TemporaryDirectory()
            var damaged = bytes
            damaged[byte] ^= 0x10
            try Self.writeSegment(damaged[...], into: copy.path)
            let log = try owner.run {
                try PartitionLog(directory: copy.path, config: LogConfig(), writer: writer, owner: owner,
                                 files: FileHandleCache(capacity: 4), cleanShutdown: false, nowMs: 0, logger: quietLogger)
            }
            owner.run {
                #expect(log.logEndOffset == damagedBatch.base)
                #expect(throws: StorageError.self) { _ = try log.read(from: damagedBatch.base + 1, maxBytes: 1) }
            }
        }
    }

    /// Corruption inside a segment that is not the last cannot be a torn write: the log refuses
    /// to open rather than serve it or silently drop what follows.
    @Test func corruptionInAnOlderSegmentTakesThePartitionOffline() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 2048
        let harness = try LogHarness(directory: directory.path, config: config, backend: .pwrite)
        for tag in 0..<20 { try harness.append(makeBatch(tag: tag, count: 3, timestamp: Int64(tag), valueSize: 100)) }
        let bases = harness.onOwner { $0.segmentBaseOffsets }
        try #require(bases.count >= 3)
        harness.log = nil
        // Remove the recovery point so the old segment is checked, then flip a byte in it.
        unlink(directory.path + "/recovery-point")
        let victim = directory.path + "/" + LogSegment.fileName(baseOffset: bases[1], suffix: ".log")
        let file = try SegmentFile.open(path: victim, create: false)
        var byte = try file.read(at: 100, count: 1)[0] ^ 0xFF
        _ = pwrite(file.descriptor, &byte, 1, 100)
        #expect(throws: StorageError.self) { try harness.open(cleanShutdown: false) }
    }

    /// ENOSPC: the append fails with a storage error, the log stays consistent and readable,
    /// and appends work again once space is back. Needs root to mount a small tmpfs.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a 1 MiB tmpfs"), arguments: [LogWriterBackend.ioUring, .pwrite])
    func diskFullFailsTheAppendAndLosesNothing(backend: LogWriterBackend) throws {
        let mountPoint = TemporaryDirectory()
        guard system("mount -t tmpfs -o size=1m tmpfs '\(mountPoint.path)' 2>/dev/null") == 0 else {
            print("cannot mount tmpfs here; skipping the disk-full test")
            return
        }
        defer { _ = system("umount '\(mountPoint.path)'") }
        let filler = mountPoint.path + "/filler"
        _ = system("dd if=/dev/zero of='\(filler)' bs=64k count=12 2>/dev/null")
        let harness = try LogHarness(directory: mountPoint.path + "/log", backend: backend)
        var acknowledged: [Int64] = []
        var failure: StorageError?
        for tag in 0..<400 {
            do {
                acknowledged.append(try harness.append(makeBatch(tag: tag, count: 4, timestamp: Int64(tag), valueSize: 400)).firstOffset)
            } catch let error as StorageError {
                failure = error
                break
            }
        }
        guard case .diskFull = try #require(failure) else {
            Issue.record("expected diskFull, got \(String(describing: failure))")
            return
        }
        let end = harness.onOwner { $0.logEndOffset }
        #expect(end == Int64(acknowledged.count) * 4)
        let firstBatches = try harness.read(from: 0)
        #expect(firstBatches.first?.header.baseOffset == 0)
        // The broker learns of it (in a cluster it asks to be fenced) until the disk has room.
        let space = DiskSpaceGuard(directory: mountPoint.path, health: harness.health, logger: quietLogger)
        #expect(harness.health.diskFullFailures >= 1)
        #expect(space.isFull())
        unlink(filler)
        #expect(!space.isFull(), "room again once the filler is gone")
        let next = try harness.append(makeBatch(tag: 999, count: 1, timestamp: 1))
        #expect(next.firstOffset == end)
        try harness.reopen(clean: false)
        #expect(harness.onOwner { $0.logEndOffset } == end + 1)
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()
