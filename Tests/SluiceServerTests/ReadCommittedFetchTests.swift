import Foundation
import KafkaProtocol
import Logging
import NIOCore
import SluiceCore
import SluiceStorage
import Synchronization
import Testing
@testable import SluiceServer

/// Fetch and ListOffsets under read_committed, seen by librdkafka's consumer: transactions are
/// written straight into a partition of an in-process broker (the transaction coordinator
/// that will write them through Produce and WriteTxnMarkers is still to come), and
/// confluent-kafka reads them back with each isolation level. read_committed sees committed
/// records only, stops at the first undecided transaction, and goes on when it is decided;
/// read_uncommitted sees every record; neither sees a marker.
@Suite("read_committed fetches")
struct ReadCommittedFetchTests {
    static let python = ProcessInfo.processInfo.environment["SLUICE_PYTHON"]

    /// Reads partition 0 of `topic` from the start with `isolation` until nothing arrives for a
    /// while; prints the values as JSON.
    static let consumer = #"""
    import json, sys, time
    from confluent_kafka import Consumer, TopicPartition
    bootstrap, topic, isolation = sys.argv[1:4]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "rc-test", "enable.auto.commit": False,
                  "isolation.level": isolation, "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(topic, 0, 0)])
    values, idle = [], time.time()
    while time.time() - idle < 3:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            print(json.dumps({"error": str(m.error())})); sys.exit(1)
        values.append(m.value().decode()); idle = time.time()
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    c.close()
    print(json.dumps({"values": values, "high": high}))
    """#

    static func read(_ bootstrap: String, topic: String, isolation: String) throws -> (values: [String], high: Int64) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python ?? "/usr/bin/python3")
        process.arguments = ["-c", consumer, bootstrap, topic, isolation]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any], "\(String(decoding: output, as: UTF8.self))")
        #expect(json["error"] == nil, "\(json)")
        return ((json["values"] as? [String]) ?? [], (json["high"] as? NSNumber)?.int64Value ?? -1)
    }

    static func batch(producer: Int64, sequence: Int32 = 0, _ values: [String]) -> ByteBuffer {
        var builder = RecordBatchBuilder(producerId: producer, producerEpoch: producer < 0 ? -1 : 0, baseSequence: producer < 0 ? -1 : sequence,
                                         isTransactional: producer >= 0)
        for value in values { builder.append(key: nil, value: ByteBuffer(string: value), timestamp: 1_700_000_000_000) }
        return try! builder.build()
    }

    @Test(.enabled(if: python != nil, "SLUICE_PYTHON is not set (make test sets it to the venv with confluent-kafka)"))
    func librdkafkaSeesCommittedRecordsOnlyUpToTheFirstUndecidedTransaction() throws {
        var template = Array("/tmp/sluice-rc-XXXXXX".utf8CString)
        let directory = String(cString: mkdtemp(&template)!)
        defer { _ = system("rm -rf '\(directory)'") }
        var config = BrokerConfig()
        try config.apply([("listeners", "127.0.0.1:0"), ("log.dirs", directory)])
        var logger = Logger(label: "broker")
        logger.logLevel = .warning
        let server = try KafkaServer.start(config: config, logger: logger)
        defer { server.shutdown() }
        let bootstrap = "127.0.0.1:\(server.localAddress.port ?? 0)"
        _ = try server.context.registry.createTopic(name: "txn", partitions: 1, replicationFactor: 1, configs: [:], validateOnly: false)
        let partition = try #require(server.context.registry.partition(topic: "txn", index: 0))
        let log = try #require(partition.log)

        func write(_ body: @escaping @Sendable (PartitionLog, @escaping @Sendable (Result<LogAppendInfo, StorageError>) -> Void) throws -> Void) throws {
            let done = DispatchSemaphore(value: 0)
            let failure = Mutex<(any Error)?>(nil)
            partition.owner.execute {
                do {
                    try body(log) { result in
                        if case .failure(let error) = result { failure.withLock { $0 = error } }
                        done.signal()
                    }
                } catch {
                    failure.withLock { $0 = error }
                    done.signal()
                }
            }
            done.wait()
            if let error = failure.withLock({ $0 }) { throw error }
        }
        func append(_ batch: ByteBuffer) throws { try write { try $0.append(batch, nowMs: 1_700_000_000_000, completion: $1) } }
        func marker(_ kind: EndTransactionMarker.Kind, producer: Int64) throws {
            try write { try $0.appendTransactionMarker(EndTransactionMarker(kind: kind, coordinatorEpoch: 0), producerId: producer,
                                                       producerEpoch: 0, nowMs: 1_700_000_000_000, completion: $1) }
        }

        try append(Self.batch(producer: -1, ["plain-1"]))           // 0
        try append(Self.batch(producer: 1, ["aborted-1", "aborted-2"]))  // 1–2
        try append(Self.batch(producer: 2, ["committed-1"]))       // 3
        try marker(.abort, producer: 1)                            // 4
        try append(Self.batch(producer: 1, sequence: 2, ["aborted-3"]))         // 5: producer 1 again, a new transaction
        try marker(.commit, producer: 2)                           // 6
        try marker(.abort, producer: 1)                            // 7
        try append(Self.batch(producer: 3, ["undecided"]))         // 8: stays open for now
        try append(Self.batch(producer: -1, ["plain-2"]))          // 9

        let committed = try Self.read(bootstrap, topic: "txn", isolation: "read_committed")
        #expect(committed.values == ["plain-1", "committed-1"], "aborted records skipped, nothing from the open transaction on")
        let uncommitted = try Self.read(bootstrap, topic: "txn", isolation: "read_uncommitted")
        #expect(uncommitted.values == ["plain-1", "aborted-1", "aborted-2", "committed-1", "aborted-3", "undecided", "plain-2"])

        // ListOffsets: latest is the last stable offset under read_committed, the high watermark otherwise.
        let lookup = ListOffsetsRequest.ListOffsetsPartition(partitionIndex: 0, currentLeaderEpoch: -1, timestamp: ListOffsetsHandler.latest)
        let answers = Mutex<(Int64, Int64)>((-1, -1))
        let looked = DispatchSemaphore(value: 0)
        partition.owner.execute {
            answers.withLock {
                $0 = (ListOffsetsHandler.lookup(lookup, in: log, version: 7, readCommitted: true).offset,
                      ListOffsetsHandler.lookup(lookup, in: log, version: 7, readCommitted: false).offset)
            }
            looked.signal()
        }
        looked.wait()
        let (stable, high) = answers.withLock { $0 }
        #expect(stable == 8 && high == 10)

        try marker(.commit, producer: 3)                           // 10
        let after = try Self.read(bootstrap, topic: "txn", isolation: "read_committed")
        #expect(after.values == ["plain-1", "committed-1", "undecided", "plain-2"], "decided: read_committed goes on past it")
    }
}
