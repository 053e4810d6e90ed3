import ArgumentParser
import NIOCore
import SluiceClient
import Synchronization

/// `sluice bench e2e`: records produced at a fixed rate, each stamped with its intended send
/// time, and consumed by a consumer in the same process; latency is receipt minus intended send.
struct BenchEndToEnd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "e2e", abstract: "End-to-end latency at a fixed rate.")
    @OptionGroup var options: BenchOptions
    @OptionGroup var producer: BenchProducerOptions
    @Option(help: "Records per second.") var rate: Double = 10_000
    @Option(help: "Seconds to produce.") var duration: Double = 30

    func run() async throws {
        let brokerBefore = options.metrics.flatMap(BrokerMetricsSample.scrape)
        guard rate > 0, duration > 0 else { throw ValidationError("--rate and --duration must be positive") }
        let client = try options.connection.clientConfig()
        var config = try producer.producerConfig(client)
        config.linger = .milliseconds(producer.lingerMs)
        let topic = try await BenchTopic.prepare(options)
        let outcome: Result<BenchResult, any Error>
        do {
            outcome = .success(try await measure(topic: topic.name, client: client, producerConfig: config))
        } catch {
            outcome = .failure(error)
        }
        await topic.remove(options)
        try report(outcome.get(), options: options, brokerBefore: brokerBefore)
    }

    private func measure(topic: String, client: KafkaClientConfig, producerConfig: KafkaProducerConfig) async throws -> BenchResult {
        var config = KafkaConsumerConfig(client: client)
        config.fetchMaxWait = .milliseconds(100)
        config.autoOffsetReset = .latest
        let consumer = KafkaConsumer(config: config, logger: quietLogger())
        try await consumer.assign(topic: topic)
        // Start producing only once every partition's end is known, so nothing is missed.
        for partition in consumer.assignment {
            while consumer.position(partition) == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let latency = LatencyRecorder()
        let expected = Int(rate * duration)
        let size = max(8, options.recordSize)
        let received = Atomic<Int>(0)
        let reader = Task {
            var count = 0
            for await record in consumer.records {
                guard var value = record.value, let stamp: UInt64 = value.readInteger() else { continue }
                latency.record(since: stamp)
                count += 1
                received.store(count, ordering: .relaxed)
                if count >= expected { break }
            }
        }
        let load = ProduceLoad(topic: topic, config: producerConfig, producers: 1, records: expected, duration: duration, rate: rate,
                               recordSize: size, makeValue: { intended in
                                   var buffer = ByteBuffer()
                                   buffer.reserveCapacity(size)
                                   buffer.writeInteger(intended)
                                   buffer.writeRepeatingByte(UInt8(ascii: "e"), count: size - 8)
                                   return buffer
                               })
        // The producer's own acknowledgement latencies go elsewhere: this run reports the consumer's.
        _ = try await load.run(progressLabel: "acknowledged", latency: LatencyRecorder())
        let deadline = ContinuousClock.now + .seconds(10)
        while received.load(ordering: .relaxed) < expected && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        reader.cancel()
        await consumer.close()
        let count = received.load(ordering: .relaxed)
        if count < expected { note("\(expected - count) of \(expected) records not received within 10 s of the last send") }
        return BenchResult(mode: "e2e", topic: topic, records: count, recordSize: size, seconds: duration,
                           recordsPerSecond: Double(count) / duration, megabytesPerSecond: Double(count * size) / duration / 1e6,
                           failed: expected - count, latencyMs: latency.summary,
                           settings: ["rate": format(rate, 0), "acks": producer.acks, "linger.ms": "\(producer.lingerMs)"])
    }
}
