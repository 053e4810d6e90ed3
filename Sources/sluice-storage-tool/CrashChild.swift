import ArgumentParser
import Dispatch
import Glibc
import KafkaProtocol
import NIOCore
import SluiceStorage

/// Appends under the durable default until killed, printing "ack BASE LAST" on stdout after
/// each acknowledgement. Record values are "v<offset>", so a checker can tell each record.
struct CrashChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-child", shouldDisplay: false)

    @Option(help: "Log directory.") var dir: String
    @Option(help: "I/O back end: automatic, io_uring or pwrite.") var backend: LogWriterBackend = .automatic
    @Option(help: "Appends kept in flight.") var inFlight: Int = 8
    @Option(help: "Records per batch.") var records: Int = 5

    func run() throws {
        let owner = QueueOwner()
        let writer = makeLogWriter(backend: backend, directory: dir).writer
        let files = FileHandleCache(capacity: 64)
        var config = LogConfig()
        config.segmentBytes = 64 * 1024
        let log = try owner.run {
            try PartitionLog(directory: dir, config: config, writer: writer, owner: owner, files: files,
                             cleanShutdown: false, nowMs: wallClockMs(), logger: quietLogger("crash-child"))
        }
        let recordsPerBatch = records
        // Appending from the owner queue; each completion starts the next append.
        @Sendable func appendOne() {
            let base = log.logEndOffset
            var builder = RecordBatchBuilder(compression: base % 3 == 0 ? .lz4 : .none)
            for index in 0..<recordsPerBatch {
                builder.append(key: nil, value: ByteBuffer(string: "v\(base + Int64(index))"), timestamp: wallClockMs())
            }
            do {
                try log.append(try builder.build(), nowMs: wallClockMs()) { result in
                    if case .success(let info) = result {
                        writeLine("ack \(info.firstOffset) \(info.lastOffset)", to: 1)
                        appendOne()
                    } else {
                        writeLine("error \(result)", to: 1)
                    }
                }
            } catch {
                writeLine("error \(error)", to: 1)
            }
        }
        owner.run {
            for _ in 0..<inFlight { appendOne() }
        }
        while true { sleep(60) }
    }
}
