import Dispatch
import Glibc
import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage
import Synchronization
import Testing

@testable import SluiceCore

/// The group log on the real storage engine: commits survive reopening (clean or not), and
/// the log cleaner keeps the log — and so start-up — proportional to the live state, not to
/// the number of commits ever made.
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

    /// The broker's log cleaner compacts the group log as any compacted topic: 40,000 commits
    /// over 20 keys leave the log, and start-up, at the live keys plus the active segment; a
    /// deleted group's offsets are tombstones that stay for delete.retention.ms and then go.
    @Test func theLogCleanerBoundsTheLogAndTheStartUp() throws {
        let directory = TemporaryGroupDirectory()
        var harness = try LogCoordinatorHarness(directory: directory.path)
        try harness.commitRounds(rounds: 2_000, groups: ["g1", "g2", "gone"], partitions: 10)
        #expect(harness.deleteGroups(["gone"]) == [.none])
        // The tombstones in a closed segment: the active one is never cleaned.
        try harness.owner.run { try harness.log.roll(nowMs: 1_700_000_000_000) }
        let before = harness.owner.run { harness.log.sizeInBytes }
        let cleanerClock = ManualClock()
        let cleaner = LogCleaner(dataDirectory: directory.path, settings: .init(), clock: { cleanerClock.value }, logger: harness.logger)
        cleaner.register(harness.log, topic: LogGroupStore.cleanerName.topic, partition: LogGroupStore.cleanerName.partition)
        var passes = 0
        while cleaner.cleanDirtiest() { passes += 1 }
        let after = harness.owner.run { harness.log.sizeInBytes }
        #expect(passes >= 1 && cleaner.statistics.recordsRemoved > 50_000, "\(passes) passes, \(cleaner.statistics)")
        // What stays: one record per key in the cleaned part, and the active 64 KiB segment.
        #expect(after < 160 * 1024, "the cleaner shrank the log from \(before) to \(after) bytes")
        #expect(harness.recordsInLog(group: "gone").allSatisfy { $0 == nil }, "the deleted group's records are tombstones")
        #expect(!harness.recordsInLog(group: "gone").isEmpty, "its tombstones stay until delete.retention.ms")
        try harness.close(clean: false)

        harness = try LogCoordinatorHarness(directory: directory.path, cleanShutdown: false)
        #expect(harness.recordsInLog().count <= 2_000, "start-up reads \(harness.recordsInLog().count) records for 20 live keys")
        #expect(harness.offsets("g1") == Array(repeating: 1_999, count: 10))
        #expect(harness.offsets("g2") == Array(repeating: 1_999, count: 10))
        #expect(harness.offsets("gone").isEmpty)

        // A day later, after a restart (a new cleaner, from its files), the tombstones' delete
        // horizon has passed: the next pass removes them though nothing new is dirty.
        cleanerClock.advance(by: 86_400_000 + 1)
        let restarted = LogCleaner(dataDirectory: directory.path, settings: .init(), clock: { cleanerClock.value }, logger: harness.logger)
        restarted.register(harness.log, topic: LogGroupStore.cleanerName.topic, partition: LogGroupStore.cleanerName.partition)
        while restarted.cleanDirtiest() {}
        #expect(harness.recordsInLog(group: "gone").isEmpty, "tombstones past delete.retention.ms are gone")
        #expect(harness.offsets("g1") == Array(repeating: 1_999, count: 10))
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
    let logger: Logger

    init(directory: String, cleanShutdown: Bool = false) throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        self.logger = logger
        writer = makeLogWriter(backend: .automatic).writer
        var logConfig = LogConfig()
        logConfig.segmentBytes = 64 * 1024
        logConfig.retentionEnabled = false
        logConfig.compactionEnabled = true
        let config = GroupCoordinatorConfig()
        let clock: @Sendable () -> Int64 = { 1_700_000_000_000 }
        let owner = self.owner
        let writer = self.writer
        (log, coordinator) = try owner.run {
            let log = try PartitionLog(directory: directory + "/" + LogGroupStore.directoryName, config: logConfig, writer: writer,
                                       owner: owner, files: FileHandleCache(capacity: 64), cleanShutdown: cleanShutdown,
                                       nowMs: clock(), logger: logger)
            let store = LogGroupStore(log: log, clock: clock, logger: logger)
            let coordinator = try GroupCoordinator(config: config, store: store, owner: owner, clock: clock, logger: logger)
            return (log, coordinator)
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

    /// The group log's records from its start, in order (of one group, when given).
    func recordsInLog(group: String? = nil) -> [GroupRecord?] {
        let records = (try? owner.run { try LogGroupStore.readRecords(of: log, limit: .highWatermark) }) ?? []
        return records.compactMap { entry -> GroupRecord?? in
            guard case .record(let record) = entry else { return nil }
            switch record {
            case .offset(let id, _, let value): return group == nil || id == group ? .some(value == nil ? nil : record) : nil
            case .group(let id, let value): return group == nil || id == group ? .some(value == nil ? nil : record) : nil
            }
        }
    }

    func deleteGroups(_ groups: [String]) -> [KafkaErrorCode] {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<[KafkaErrorCode]>([])
        let coordinator = self.coordinator
        owner.execute {
            coordinator.deleteGroups(groups) { answers in
                result.withLock { $0 = answers.map(\.1) }
                done.signal()
            }
        }
        done.wait()
        return result.withLock { $0 }
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
