import ArgumentParser
import NIOCore
import SluiceClient

/// `sluice bench consume`: consumer throughput over a topic's records from the beginning. Without
/// --topic it first fills a new topic with --records records (not measured).
struct BenchConsume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "consume", abstract: "Consumer throughput from the beginning of a topic.")
    @OptionGroup var options: BenchOptions
    @Option(help: "Records to read (and, without --topic, to write first).") var records: Int = 1_000_000
    @Option(help: "Stop after this many seconds even if fewer records were read.") var duration: Double?

    func run() async throws {
        let brokerBefore = options.metrics.flatMap(BrokerMetricsSample.scrape)
        let client = try options.connection.clientConfig()
        let topic = try await BenchTopic.prepare(options)
        let outcome: Result<BenchResult, any Error>
        do {
            if topic.created {
                var config = KafkaProducerConfig(client: client)
                config.acks = 1
                config.enableIdempotence = false
                config.batchSize = 1_000_000
                config.maxBufferedRecords = 1_000_000
                note("filling \(topic.name) with \(records) records of \(options.recordSize) B")
                let fill = ProduceLoad(topic: topic.name, config: config, producers: 1, records: records, duration: nil, rate: 0,
                                       recordSize: options.recordSize)
                _ = try await fill.run(progressLabel: "filled")
            }
            outcome = .success(try await consume(topic: topic.name, client: client))
        } catch {
            outcome = .failure(error)
        }
        await topic.remove(options)
        try report(outcome.get(), options: options, brokerBefore: brokerBefore)
    }

    private func consume(topic: String, client: KafkaClientConfig) async throws -> BenchResult {
        var config = KafkaConsumerConfig(client: client)
        config.autoOffsetReset = .earliest
        config.fetchMaxWait = .milliseconds(100)
        config.maxPartitionFetchBytes = 4 << 20
        config.maxPrefetchedRecords = 200_000
        let consumer = KafkaConsumer(config: config, logger: quietLogger())
        try await consumer.assign(topic: topic)
        let progress = ProgressLine("consumed", recordSize: options.recordSize)
        defer { progress.stop() }
        var count = 0
        var bytes = 0
        var first: UInt64 = 0
        let deadline = duration.map { monotonicNanos() + UInt64($0 * 1e9) }
        // A batch at a time (`batches`, like Java's poll()); librdkafka's load consumes in
        // batches too.
        reading: for await batch in consumer.batches {
            if first == 0 { first = monotonicNanos() }
            for record in batch {
                count += 1
                bytes += record.value?.readableBytes ?? 0
                if count >= records { break reading }
            }
            progress.set(count)
            if let deadline, monotonicNanos() >= deadline { break }
        }
        let seconds = first == 0 ? 0 : Double(monotonicNanos() - first) / 1e9
        await consumer.close()
        return BenchResult(mode: "consume", topic: topic, records: count, recordSize: count > 0 ? bytes / count : options.recordSize,
                           seconds: seconds, recordsPerSecond: seconds > 0 ? Double(count) / seconds : 0,
                           megabytesPerSecond: seconds > 0 ? Double(bytes) / seconds / 1e6 : 0, failed: 0, latencyMs: nil,
                           settings: ["fetch.max.wait.ms": "100", "max.partition.fetch.bytes": "\(4 << 20)"])
    }
}
