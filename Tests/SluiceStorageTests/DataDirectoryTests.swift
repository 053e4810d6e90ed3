import Glibc
import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

@Suite("Data directory and file handles")
struct DataDirectoryTests {
    @Test func aSecondOwnerOfTheDirectoryIsRefused() throws {
        let directory = TemporaryDirectory()
        let first = try DataDirectory(path: directory.path + "/data")
        #expect(throws: StorageError.directoryLocked(path: directory.path + "/data")) {
            _ = try DataDirectory(path: directory.path + "/data")
        }
        _ = first
    }

    @Test func theCleanShutdownMarkerIsConsumedAtStart() throws {
        let directory = TemporaryDirectory()
        do {
            let data = try DataDirectory(path: directory.path)
            #expect(!data.wasCleanShutdown)
            try data.markCleanShutdown()
        }
        do {
            let data = try DataDirectory(path: directory.path)
            #expect(data.wasCleanShutdown)
        }
        // Not marked again: the next start is unclean.
        #expect(try !DataDirectory(path: directory.path).wasCleanShutdown)
    }

    /// A fetch holding a region of a segment keeps reading it after retention deleted it.
    @Test func retentionDoesNotPullASegmentFromUnderAFetch() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1024
        config.retentionMs = 1000
        let harness = try LogHarness(directory: directory.path, config: config)
        for tag in 0..<10 { try harness.append(makeBatch(tag: tag, count: 3, timestamp: Int64(tag), valueSize: 100)) }
        let held = try harness.onOwner { try $0.read(from: 0, maxBytes: 100) }
        let slice = try #require(held.slices.first)
        let deleted = try harness.onOwner { try $0.applyRetention(nowMs: 1_000_000) }
        #expect(deleted > 0)
        #expect(access(slice.file.path, F_OK) != 0, "the segment file is unlinked")
        var bytes = ByteBuffer(bytes: try slice.readBytes())
        let batch = try #require(try RecordBatch.next(from: &bytes, allowPartialTail: true))
        try batch.verifyCRC()
        #expect(batch.header.baseOffset == 0)
    }

    /// Retention and flush.ms run by themselves once background maintenance is started.
    @Test func backgroundMaintenanceAppliesRetentionAndTimedFlushes() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1024
        config.retentionMs = 60_000
        config.flushMessages = Int64.max
        config.flushMs = 50
        let harness = try LogHarness(directory: directory.path, config: config)
        // Old records (timestamps near 0) that retention.ms has long expired.
        for tag in 0..<12 { try harness.append(makeBatch(tag: tag, count: 3, timestamp: Int64(tag), valueSize: 100)) }
        let before = harness.onOwner { $0.segmentCount }
        #expect(before > 3)
        #expect(harness.onOwner { $0.durableOffset } < 36)
        harness.onOwner { $0.startBackgroundMaintenance(intervalMs: 20) { 1_700_000_000_000 } }
        var waited = 0
        while harness.onOwner({ $0.segmentCount }) >= before || harness.onOwner({ $0.durableOffset }) < 36 {
            usleep(20_000)
            waited += 1
            try #require(waited < 250, "maintenance did not run within 5 s")
        }
        #expect(harness.onOwner { $0.logStartOffset } > 0)
        harness.onOwner { $0.stopBackgroundMaintenance() }
    }

    /// Thousands of segments, a cache of 16 descriptors: reads across all of them stay within it.
    @Test func manySegmentsDoNotExhaustDescriptors() throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 200
        let harness = try LogHarness(directory: directory.path, config: config)
        for tag in 0..<1500 {
            try harness.append(makeBatch(tag: tag, count: 1, timestamp: Int64(tag), valueSize: 150))
        }
        #expect(harness.onOwner { $0.segmentCount } >= 1500)
        try harness.reopen(clean: true)
        let before = openDescriptorCount()
        for offset in stride(from: Int64(0), to: 1500, by: 7) {
            let batch = try #require(try harness.read(from: offset).first)
            #expect(batch.header.baseOffset == offset)
        }
        #expect(harness.files.openCount <= harness.files.capacity)
        #expect(openDescriptorCount() - before <= harness.files.capacity + 4)
    }

    @Test func theDescriptorLimitIsRaisedToTheHardLimit() {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let raised = raiseFileDescriptorLimit()
        #expect(raised >= UInt64(limit.rlim_cur))
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        #expect(limit.rlim_cur == limit.rlim_max)
    }

    func openDescriptorCount() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while readdir(dir) != nil { count += 1 }
        return count
    }
}
