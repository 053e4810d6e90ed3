import Dispatch
import Glibc
import KafkaProtocol
import Logging
import NIOCore
@testable import SluiceStorage

typealias TestOwner = SerialQueueOwner

final class ResultBox<T>: @unchecked Sendable {
    var value: T?
    let done = DispatchSemaphore(value: 0)
}

/// A temporary directory removed at deinit.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/sluice-storage-XXXXXX".utf8CString)
        let created = mkdtemp(&template)!
        path = String(cString: created)
    }

    deinit {
        _ = system("rm -rf '\(path)'")
    }
}

/// A log plus everything it needs, opened on one directory, reopenable.
final class LogHarness {
    let directory: String
    let owner = TestOwner()
    let writer: any LogWriter
    let files = FileHandleCache(capacity: 64)
    let health = StorageHealth()
    var config: LogConfig
    var log: PartitionLog!
    var nowMs: Int64 = 1_700_000_000_000
    var logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    /// io_uring writes go through the ring unless told otherwise, so that path is tested on file
    /// systems where the broker itself would make them on the storage thread.
    init(directory: String, config: LogConfig = LogConfig(), backend: LogWriterBackend = .automatic,
         uringWrites: URingWritePath = .ring) throws {
        self.directory = directory
        self.config = config
        self.writer = makeLogWriter(backend: backend, uringWrites: uringWrites).writer
        try open(cleanShutdown: false)
    }

    deinit {
        writer.shutdown()
    }

    func open(cleanShutdown: Bool) throws {
        log = try owner.run {
            try PartitionLog(directory: directory, config: config, writer: writer, owner: owner, files: files,
                             cleanShutdown: cleanShutdown, nowMs: nowMs, logger: logger, health: health)
        }
    }

    func reopen(clean: Bool) throws {
        if clean { try owner.run { try log.closeCleanly() } }
        log = nil
        try open(cleanShutdown: clean)
    }

    /// Appends and waits for the completion (durable under the default config).
    @discardableResult
    func append(_ batch: ByteBuffer) throws -> LogAppendInfo {
        let box = ResultBox<Result<LogAppendInfo, StorageError>>()
        try owner.run {
            try log.append(batch, nowMs: nowMs) { result in
                box.value = result
                box.done.signal()
            }
        }
        box.done.wait()
        return try box.value!.get()
    }

    func read(from offset: Int64, maxBytes: Int = 1 << 20) throws -> [RecordBatch] {
        let result = try owner.run { try log.read(from: offset, maxBytes: maxBytes) }
        var batches: [RecordBatch] = []
        for slice in result.slices {
            var buffer = ByteBuffer(bytes: try slice.readBytes())
            while let batch = try RecordBatch.next(from: &buffer, allowPartialTail: true) {
                batches.append(batch)
            }
        }
        return batches
    }

    func onOwner<T>(_ body: (PartitionLog) throws -> T) rethrows -> T {
        try owner.run { try body(log) }
    }
}

/// A batch of `count` records whose values say which batch and record they are.
func makeBatch(tag: Int, count: Int, timestamp: Int64, compression: CompressionCodec = .none, valueSize: Int = 20) -> ByteBuffer {
    var builder = RecordBatchBuilder(compression: compression)
    for index in 0..<count {
        var value = "b\(tag)-r\(index)-"
        while value.utf8.count < valueSize { value += "x" }
        builder.append(key: ByteBuffer(string: "k\(index)"), value: ByteBuffer(string: value), timestamp: timestamp + Int64(index))
    }
    return try! builder.build()
}

func values(of batch: RecordBatch) throws -> [String] {
    try batch.records(decompressionLimit: 1 << 24).map { String(buffer: $0.value!) }
}
