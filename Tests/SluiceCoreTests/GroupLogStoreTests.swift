import Dispatch
import Glibc
import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage
import Testing

@testable import SluiceCore

/// The group log on the real storage engine: commits survive reopening (clean or not), and
/// compaction keeps the log — and so start-up — proportional to the live state, not to the
/// number of commits ever made.
@Suite("Group log store")
struct GroupLogStoreTests {
    @Test func commitsSurviveACleanAndAnUncleanReopen() throws {
        let directory = TemporaryGroupDirectory()
        var harness = try LogCoordinatorHarness(directory: directory.path)
        try harness.commitRounds(rounds: 30, groups: ["a", "b"], partitions: 4)
        try harness.close(clean: true)
        harness = try LogCoordinatorHarness(directory: directory.path, cleanShutdown: true)
        #expect(harness.offsets("a") == Array(repeating: 29, count: 4))
        try harness.commitRounds(rounds: 5, groups: ["a"], partitions: 4, startingAt: 100)
        // No clean shutdown: as after kill -9, recovery runs and the acknowledged commits remain.
        try harness.close(clean: false)
        harness = try LogCoordinatorHarness(directory: directory.path, cleanShutdown: false)
        #expect(harness.offsets("a") == Array(repeating: 104, count: 4))
        #expect(harness.offsets("b") == Array(repeating: 29, count: 4))
        try harness.close(clean: true)
    }

    @Test func compactionBoundsTheLogAndTheStartUp() throws {
        let directory = TemporaryGroupDirectory()
        var harness = try LogCoordinatorHarness(directory: directory.path, compactionMinRecords: 1_000)
        // 20 live keys, 40,000 commits.
        try harness.commitRounds(rounds: 2_000, groups: ["g1", "g2"], partitions: 10)
        let (start, end, size) = harness.owner.run { (harness.log.logStartOffset, harness.log.logEndOffset, harness.log.sizeInBytes) }
        #expect(start > 30_000, "compaction moved the log start forward (start \(start), end \(end))")
        #expect(end - start <= 2_100, "at most one compaction interval of records remains (\(end - start))")
        #expect(size < 512 * 1024, "old segments were deleted (\(size) bytes on disk)")
        try harness.close(clean: false)

        harness = try LogCoordinatorHarness(directory: directory.path, cleanShutdown: false, compactionMinRecords: 1_000)
        #expect(harness.loadedRecords <= 2_100, "start-up read \(harness.loadedRecords) records for 20 live keys")
        #expect(harness.offsets("g1") == Array(repeating: 1_999, count: 10))
        #expect(harness.offsets("g2") == Array(repeating: 1_999, count: 10))
        try harness.close(clean: true)
    }
}

final class TemporaryGroupDirectory {
    let path: String

    init() {
        var template = Array("/tmp/sluice-groups-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }

    deinit {
        _ = system("rm -rf '\(path)'")
    }
}

/// A coordinator on a LogGroupStore over a PartitionLog, all on one serial queue.
final class LogCoordinatorHarness: @unchecked Sendable {
    let owner = SerialQueueOwner(label: "groups-test")
    let writer: any LogWriter
    let log: PartitionLog
    let coordinator: GroupCoordinator
    let loadedRecords: Int

    init(directory: String, cleanShutdown: Bool = false, compactionMinRecords: Int = 100_000) throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        writer = makeLogWriter(backend: .automatic).writer
        var logConfig = LogConfig()
        logConfig.segmentBytes = 64 * 1024
        logConfig.retentionMs = -1
        var config = GroupCoordinatorConfig()
        config.compactionMinRecords = compactionMinRecords
        let clock: @Sendable () -> Int64 = { 1_700_000_000_000 }
        let owner = self.owner
        let writer = self.writer
        (log, coordinator, loadedRecords) = try owner.run {
            let log = try PartitionLog(directory: directory + "/" + LogGroupStore.directoryName, config: logConfig, writer: writer,
                                       owner: owner, files: FileHandleCache(capacity: 64), cleanShutdown: cleanShutdown,
                                       nowMs: clock(), logger: logger)
            let store = LogGroupStore(log: log, clock: clock, logger: logger)
            let coordinator = try GroupCoordinator(config: config, store: store, owner: owner, clock: clock, logger: logger)
            return (log, coordinator, store.recordsSinceRewrite)
        }
    }

    /// Every round commits offset `round` for every partition of every group, and waits.
    func commitRounds(rounds: Int, groups: [String], partitions: Int32, startingAt first: Int64 = 0) throws {
        let failures = FailureCount()
        for round in 0..<Int64(rounds) {
            let done = DispatchGroup()
            for group in groups {
                done.enter()
                let entries = (0..<partitions).map {
                    OffsetCommitEntry(partition: TopicPartitionKey(topic: "t", partition: $0), offset: first + round, leaderEpoch: 0,
                                      metadata: "round \(round)")
                }
                let coordinator = self.coordinator
                owner.execute {
                    coordinator.commitOffsets(OffsetCommitInput(groupId: group, generationId: -1, memberId: "", groupInstanceId: nil,
                                                                retentionTimeMs: -1, entries: entries)) { errors in
                        if errors.values.contains(where: { $0 != .none }) { failures.add() }
                        done.leave()
                    }
                }
            }
            done.wait()
        }
        #expect(failures.count == 0)
    }

    func offsets(_ group: String) -> [Int64] {
        owner.run { coordinator.fetchOffsets(groupId: group, partitions: nil).map { $0.1?.offset ?? -1 } }
    }

    func close(clean: Bool) throws {
        if clean {
            try owner.run { try coordinator.closeLog() }
        }
        writer.shutdown()
    }
}

final class FailureCount: @unchecked Sendable {
    private(set) var count = 0
    func add() { count += 1 }
}
