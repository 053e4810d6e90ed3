import ArgumentParser
import Dispatch
import Glibc
import KafkaProtocol
import NIOCore
import SluiceStorage

/// Append throughput of the partition log against the machine's own disk limits.
struct StorageBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Append throughput: 1 KiB and 100 B records in 16 KiB batches, 1 and 8 partitions, durable and background flushing.")

    @Option(help: "Directory for the benchmark's logs (removed afterwards).") var dir: String = "."
    @Option(help: "Seconds per scenario.") var seconds: Double = 5
    @Option(help: "Appends kept in flight across all partitions (128 x 16 KiB = 2 MiB).") var inFlight: Int = 128
    @Option(help: "I/O back end: automatic, io_uring or pwrite.") var backend: LogWriterBackend = .automatic
    @Option(help: "io_uring's write path: automatic (the storage thread, as inline), ring or inline.") var uringWrites: URingWritePath = .automatic
    @Flag(help: "Print the results as JSON on stdout.") var json = false
    @Option(help: "Run only the scenarios whose name contains this text (e.g. \"1 KiB x1p durable\").") var only: String?

    struct Scenario {
        let recordSize: Int
        let partitions: Int
        let durable: Bool
        var name: String { "\(recordSize == 1024 ? "1 KiB" : "\(recordSize) B") x\(partitions)p \(durable ? "durable" : "background")" }
    }

    struct Outcome {
        let scenario: Scenario
        let megabytesPerSecond: Double
        let recordsPerSecond: Double
        let syncsPerSecond: Double
        let fractionOfLimit: Double
    }

    func run() throws {
        let root = dir + "/sluice-storage-bench-\(getpid())"
        defer { _ = system("rm -rf '\(root)'") }
        mkdir(root, 0o755)
        progress("measuring the disk's limits in \(dir) ...")
        let limits = try DiskLimits.measure(directory: root, seconds: seconds)
        progress("buffered sequential write \(format(limits.bufferedWriteMBps)) MB/s; write+fdatasync per MiB \(format(limits.syncedWriteMBps)) MB/s (fdatasync p99 \(format(limits.fdatasyncP99Ms, decimals: 2)) ms)")
        var outcomes: [Outcome] = []
        var backendName = ""
        for durable in [true, false] {
            for recordSize in [1024, 100] {
                for partitions in [1, 8] {
                    let scenario = Scenario(recordSize: recordSize, partitions: partitions, durable: durable)
                    if let only, !scenario.name.contains(only) { continue }
                    let scenarioRoot = root + "/\(outcomes.count)"
                    let (outcome, name) = try measure(scenario, root: scenarioRoot, limits: limits)
                    _ = system("rm -rf '\(scenarioRoot)'")
                    backendName = name
                    outcomes.append(outcome)
                }
            }
        }
        if json {
            var lines: [String] = []
            for o in outcomes {
                lines.append("{\"scenario\": \"\(o.scenario.name)\", \"recordSize\": \(o.scenario.recordSize), \"partitions\": \(o.scenario.partitions), \"durable\": \(o.scenario.durable), \"MBps\": \(format(o.megabytesPerSecond)), \"recordsPerSecond\": \(Int(o.recordsPerSecond)), \"fdatasyncsPerSecond\": \(format(o.syncsPerSecond)), \"fractionOfLimit\": \(format(o.fractionOfLimit, decimals: 3))}")
            }
            print("{\"backend\": \"\(backendName)\", \"inFlight\": \(inFlight), \"limits\": {\"bufferedWriteMBps\": \(format(limits.bufferedWriteMBps)), \"syncedWriteMBps\": \(format(limits.syncedWriteMBps)), \"fdatasyncP99Ms\": \(format(limits.fdatasyncP99Ms, decimals: 3))}, \"results\": [\(lines.joined(separator: ", "))]}")
        } else {
            print("back end: \(backendName); \(inFlight) appends in flight; 16 KiB batches; \(format(seconds)) s per scenario")
            print("machine: buffered sequential write \(format(limits.bufferedWriteMBps)) MB/s, write+fdatasync per MiB \(format(limits.syncedWriteMBps)) MB/s")
            print("| scenario | MB/s | records/s | fdatasyncs/s | of its limit |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for o in outcomes {
                print("| \(o.scenario.name) | \(format(o.megabytesPerSecond)) | \(Int(o.recordsPerSecond)) | \(format(o.syncsPerSecond)) | \(format(o.fractionOfLimit * 100)) % |")
            }
        }
    }

    private func templateBatch(recordSize: Int) throws -> (ByteBuffer, Int) {
        var builder = RecordBatchBuilder()
        let value = ByteBuffer(repeating: 0x61, count: recordSize)
        while builder.estimatedSize + recordSize + 16 <= 16 * 1024 {
            builder.append(key: nil, value: value, timestamp: wallClockMs())
        }
        return (try builder.build(), builder.count)
    }

    private func measure(_ scenario: Scenario, root: String, limits: DiskLimits) throws -> (Outcome, String) {
        let owner = QueueOwner()
        let (writer, fallback) = makeLogWriter(backend: backend, directory: dir, uringWrites: uringWrites)
        if let fallback { progress("io_uring unavailable (\(fallback)); using pwrite") }
        defer { writer.shutdown() }
        var config = LogConfig()
        if !scenario.durable {
            config.flushMessages = Int64.max
            config.flushMs = 1000
        }
        let files = FileHandleCache(capacity: 256)
        let logs = try owner.run {
            try (0..<scenario.partitions).map { index in
                try PartitionLog(directory: root + "/p\(index)", config: config, writer: writer, owner: owner, files: files,
                                 cleanShutdown: false, nowMs: wallClockMs(), logger: quietLogger("bench"))
            }
        }
        if !scenario.durable {
            // flush.ms runs from each log's background maintenance, as in the broker.
            owner.run { for log in logs { log.startBackgroundMaintenance(intervalMs: 100, clock: wallClockMs) } }
        }
        let (template, recordsPerBatch) = try templateBatch(recordSize: scenario.recordSize)
        let state = BenchState()
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        let finished = DispatchSemaphore(value: 0)
        let syncsBefore = writer.statistics.syncCount
        let started = monotonicNanoseconds()

        @Sendable func appendNext() {
            if monotonicNanoseconds() >= deadline {
                state.outstanding -= 1
                if state.outstanding == 0 { finished.signal() }
                return
            }
            let log = logs[state.next % logs.count]
            state.next += 1
            do {
                try log.append(template, nowMs: wallClockMs()) { result in
                    if case .success = result {
                        state.appends += 1
                    } else {
                        state.failures += 1
                    }
                    appendNext()
                }
            } catch {
                state.failures += 1
                state.outstanding -= 1
                if state.outstanding == 0 { finished.signal() }
            }
        }
        owner.run {
            state.outstanding = inFlight
            for _ in 0..<inFlight { appendNext() }
        }
        // A progress line each second while the scenario runs.
        var lastAppends = 0
        while finished.wait(timeout: .now() + 1) == .timedOut {
            let appends = owner.run { state.appends }
            let rate = Double((appends - lastAppends) * template.readableBytes) / 1e6
            progress("  \(scenario.name): \(format(rate)) MB/s, \((appends - lastAppends) * recordsPerBatch) records/s")
            lastAppends = appends
        }
        let elapsed = Double(monotonicNanoseconds() - started) / 1e9
        let appends = owner.run { state.appends }
        let syncs = writer.statistics.syncCount - syncsBefore
        let megabytes = Double(appends * template.readableBytes) / 1e6 / elapsed
        let limit = scenario.durable ? limits.syncedWriteMBps : limits.bufferedWriteMBps
        if state.failures > 0 { progress("  \(state.failures) appends failed") }
        owner.run { for log in logs { try? log.closeCleanly() } }
        return (Outcome(scenario: scenario, megabytesPerSecond: megabytes,
                        recordsPerSecond: Double(appends * recordsPerBatch) / elapsed,
                        syncsPerSecond: Double(syncs) / elapsed, fractionOfLimit: megabytes / limit), writer.backendName)
    }
}

/// Counters touched only on the owner queue.
final class BenchState: @unchecked Sendable {
    var next = 0
    var appends = 0
    var failures = 0
    var outstanding = 0
}
