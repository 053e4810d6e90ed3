import ArgumentParser
import Glibc
import KafkaProtocol
import NIOCore
import SluiceStorage

/// One round of a compacted log's life, killed with SIGKILL at a chosen step of its cleaning:
/// appends keyed records (some tombstones), printing "ack OFFSET KEY VALUE" once each is
/// durable ("-" for a tombstone), rolls, cleans the whole log and swaps the result in, dying
/// after the cleaned files are written (`written`) or after a durable step of the swap. The
/// test recovers the log and checks every key still reads its latest value.
struct CleanCrashChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clean-crash-child", shouldDisplay: false)

    @Option(help: "Log directory.") var dir: String
    @Option(help: "Where to die: written, committed, replacedRemoved, renamed, or none.") var crashAt: String
    @Option(help: "Round number (record values carry it).") var round: Int
    @Option(help: "Records to append.") var records: Int = 400
    @Option(help: "Distinct keys.") var keys: Int = 40

    func run() throws {
        let owner = QueueOwner()
        let writer = makeLogWriter(backend: .pwrite, directory: dir).writer
        var config = LogConfig()
        config.segmentBytes = 2048
        config.indexIntervalBytes = 256
        config.compactionEnabled = true
        config.retentionEnabled = false
        let log = try owner.run {
            try PartitionLog(directory: dir, config: config, writer: writer, owner: owner, files: FileHandleCache(capacity: 64),
                             cleanShutdown: false, nowMs: wallClockMs(), logger: quietLogger("clean-crash-child"))
        }
        var rng = SystemRandomNumberGenerator()
        var appended = 0
        while appended < records {
            var builder = RecordBatchBuilder(compression: appended % 3 == 0 ? .lz4 : .none)
            var batch: [(String, String?)] = []
            for index in 0..<min(4, records - appended) {
                let key = "key-\(Int.random(in: 0..<keys, using: &rng))"
                let value: String? = Int.random(in: 0..<8, using: &rng) == 0 ? nil : "r\(round)-\(appended + index)"
                builder.append(key: ByteBuffer(string: key), value: value.map { ByteBuffer(string: $0) }, timestamp: wallClockMs())
                batch.append((key, value))
            }
            let encoded = try builder.build()
            let done = ConditionFlag()
            let first = try owner.run {
                try log.append(encoded, nowMs: wallClockMs()) { result in
                    if case .failure(let error) = result { writeLine("error \(error)", to: 1) }
                    done.set()
                }.firstOffset
            }
            done.wait()
            for (index, record) in batch.enumerated() {
                writeLine("ack \(first + Int64(index)) \(record.0) \(record.1 ?? "-")", to: 1)
            }
            appended += batch.count
        }
        try owner.run { try log.roll(nowMs: wallClockMs()) }
        let plan = owner.run {
            log.cleaningPlan(firstDirtyOffset: 0, nowMs: wallClockMs(), deleteRetentionMs: 86_400_000, minCompactionLagMs: 0)
        }
        guard let plan, let outcome = try SegmentCleaner.clean(plan, mapBytes: 1 << 20) else {
            writeLine("nothing to clean", to: 1)
            return
        }
        if crashAt == "written" { die("written") }
        let swapped = try owner.run {
            try log.swapIn(outcome) { step in if step.rawValue == crashAt { die(step.rawValue) } }
        }
        writeLine("swapped \(swapped)", to: 1)
        try owner.run { try log.closeCleanly() }
        writer.shutdown()
    }
}

private func die(_ step: String) -> Never {
    writeLine("dying after \(step)", to: 1)
    kill(getpid(), SIGKILL)
    fatalError("SIGKILL did not stop the process")
}

/// A one-shot flag a completion sets and the main thread waits for.
private final class ConditionFlag: @unchecked Sendable {
    // @unchecked: the value is behind the mutex.
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var isSet = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func set() {
        pthread_mutex_lock(&mutex)
        isSet = true
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func wait() {
        pthread_mutex_lock(&mutex)
        while !isSet { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }
}
