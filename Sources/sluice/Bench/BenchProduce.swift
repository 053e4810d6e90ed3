import ArgumentParser
import NIOCore
import SluiceClient
import Synchronization

/// `sluice bench produce`: producer throughput and, with `--rate`, acknowledgement latency measured
/// from each record's slot in the schedule, so a producer that stalls is charged for the records
/// it could not send on time. Without `--rate` it runs flat out and reads no clock per record, as
/// the librdkafka load generator does, so the two clients are compared on equal terms.
struct BenchProduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "produce", abstract: "Producer throughput and acknowledgement latency.")
    @OptionGroup var options: BenchOptions
    @OptionGroup var producer: BenchProducerOptions
    @Option(help: "Records to send, across producers.") var records: Int = 1_000_000
    @Option(help: "Run this many seconds instead of counting records.") var duration: Double?
    @Option(help: "Target rate in records/s across producers (0: as fast as possible).") var rate: Double = 0

    func run() async throws {
        let brokerBefore = options.metrics.flatMap(BrokerMetricsSample.scrape)
        let client = try options.connection.clientConfig()
        let config = try producer.producerConfig(client)
        let topic = try await BenchTopic.prepare(options)
        let load = ProduceLoad(topic: topic.name, config: config, producers: max(1, producer.producers), records: records,
                               duration: duration, rate: rate, recordSize: options.recordSize)
        let outcome: Result<BenchResult, any Error>
        do {
            var result = try await load.run(progressLabel: "produced")
            result.settings = ["acks": producer.acks, "compression": producer.compression, "linger.ms": "\(producer.lingerMs)",
                               "batch.size": "\(producer.batchSize)", "producers": "\(producer.producers)",
                               "idempotence": "\(config.enableIdempotence)", "rate": rate > 0 ? format(rate, 0) : "unlimited"]
            outcome = .success(result)
        } catch {
            outcome = .failure(error)
        }
        await topic.remove(options)
        try report(outcome.get(), options: options, brokerBefore: brokerBefore)
    }
}

/// Counters shared by the load's tasks.
final class LoadCounters: Sendable {
    let acknowledged = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let firstError = Mutex<String?>(nil)
    /// When the last producer stopped sending (monotonic nanoseconds).
    let lastSend = Atomic<UInt64>(0)
}

/// The send times of records in flight, by delivery id (ids are consecutive from 1 per producer).
/// Written before `enqueue`, read from the delivery report: the producer's lock orders the two.
final class SendTimes: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<UInt64>
    private let mask: Int

    init(capacityAtLeast count: Int) {
        var capacity = 1
        while capacity < count { capacity <<= 1 }
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        mask = capacity - 1
    }

    deinit { slots.deallocate() }

    subscript(id: UInt64) -> UInt64 {
        get { slots[Int(truncatingIfNeeded: id) & mask] }
        set { slots[Int(truncatingIfNeeded: id) & mask] = newValue }
    }
}

struct ProduceLoad: Sendable {
    let topic: String
    let config: KafkaProducerConfig
    let producers: Int
    let records: Int
    let duration: Double?
    let rate: Double
    let recordSize: Int
    /// Makes each record's value; the default repeats one buffer (no allocation per record).
    var makeValue: (@Sendable (_ intendedNanos: UInt64) -> ByteBuffer)?

    init(topic: String, config: KafkaProducerConfig, producers: Int, records: Int, duration: Double?, rate: Double, recordSize: Int,
         makeValue: (@Sendable (UInt64) -> ByteBuffer)? = nil) {
        self.topic = topic
        self.config = config
        self.producers = producers
        self.records = records
        self.duration = duration
        self.rate = rate
        self.recordSize = recordSize
        self.makeValue = makeValue
    }

    func run(progressLabel: String, latency: LatencyRecorder = LatencyRecorder()) async throws -> BenchResult {
        let counters = LoadCounters()
        let start = monotonicNanos()
        let deadline = duration.map { start + UInt64($0 * 1e9) }
        let progress = ProgressLine(progressLabel, recordSize: recordSize, latency: latency) {
            counters.acknowledged.load(ordering: .relaxed)
        }
        defer { progress.stop() }
        let sent = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<producers {
                let share = records / producers + (index < records % producers ? 1 : 0)
                group.addTask {
                    try await produce(share: share, start: start, deadline: deadline, rate: rate / Double(producers),
                                      counters: counters, latency: latency)
                }
            }
            return try await group.reduce(0, +)
        }
        // Sending: until the last record was handed to a producer (the deadline, with
        // --duration). Draining: from there until the last acknowledgement — what the producers'
        // buffers held, reported apart so a 4-second run says 4 seconds.
        let end = monotonicNanos()
        let sendEnd = min(max(counters.lastSend.load(ordering: .relaxed), start), end)
        let seconds = Double(sendEnd - start) / 1e9
        let drain = Double(end - sendEnd) / 1e9
        let total = seconds + drain
        let acknowledged = counters.acknowledged.load(ordering: .relaxed)
        let failed = counters.failed.load(ordering: .relaxed)
        if let error = counters.firstError.withLock({ $0 }) { note("first failure: \(error)") }
        if acknowledged + failed != sent { note("\(sent - acknowledged - failed) records without a delivery report") }
        // Rates over sending and draining: every acknowledged record, over all the time it took.
        return BenchResult(mode: "produce", topic: topic, records: acknowledged, recordSize: recordSize, seconds: seconds,
                           drainSeconds: drain, recordsPerSecond: total > 0 ? Double(acknowledged) / total : 0,
                           megabytesPerSecond: total > 0 ? Double(acknowledged) * Double(recordSize) / total / 1e6 : 0,
                           failed: failed, latencyMs: latency.summary, settings: [:])
    }

    private func produce(share: Int, start: UInt64, deadline: UInt64?, rate: Double, counters: LoadCounters,
                         latency: LatencyRecorder) async throws -> Int {
        let producer = try KafkaProducer(config: config, logger: quietLogger())
        let times = SendTimes(capacityAtLeast: config.maxBufferedRecords * 2)
        let timed = rate > 0 || makeValue != nil
        let reports = Task {
            for await report in producer.deliveryReports {
                switch report.result {
                case .success:
                    if timed { latency.record(since: times[report.id]) }
                    counters.acknowledged.add(1, ordering: .relaxed)
                case .failure(let error):
                    counters.failed.add(1, ordering: .relaxed)
                    counters.firstError.withLock { $0 = $0 ?? "\(error)" }
                }
            }
        }
        let shared = ByteBuffer(repeating: UInt8(ascii: "a"), count: recordSize)
        var sent = 0
        while duration != nil || sent < share {
            let intended: UInt64
            if rate > 0 {
                intended = start + UInt64(Double(sent) * 1e9 / rate)
                let now = monotonicNanos()
                if intended > now + 50_000 { try await Task.sleep(for: .nanoseconds(intended - now)) }
            } else {
                intended = timed || (deadline != nil && sent & 255 == 0) ? monotonicNanos() : 0
            }
            // By the schedule: a paced producer that fell behind still sends the records due
            // before the deadline (e2e expects rate × duration); an unpaced one stops at it.
            if let deadline, intended >= deadline { break }
            if timed { times[UInt64(sent + 1)] = intended }
            let record = ProducerRecord(topic: topic, value: makeValue?(intended) ?? shared)
            if try producer.tryEnqueue(record) == nil { try await producer.enqueue(record) }
            sent += 1
        }
        _ = counters.lastSend.max(monotonicNanos(), ordering: .relaxed)
        await producer.close()
        await reports.value
        return sent
    }
}

/// Prints a result as a table (stdout) or JSON, with the broker's view of the run when
/// `--metrics` names its endpoint (`brokerBefore`: read as the run began).
func report(_ result: BenchResult, options: BenchOptions, brokerBefore: BrokerMetricsSample?) throws {
    var broker: BrokerMetricsSummary?
    if let url = options.metrics {
        if let after = BrokerMetricsSample.scrape(url) {
            if brokerBefore == nil { note("could not read \(url) before the run; the broker's figures are totals since it started") }
            broker = BrokerMetricsSummary(url: url, before: brokerBefore, after: after)
        } else {
            note("could not read \(url)")
        }
    }
    if options.json {
        print(try jsonText(result, broker: broker))
    } else {
        result.printTable()
        broker?.printTable()
    }
}
