import ArgumentParser
import Glibc
import KafkaProtocol
import SluiceClient

/// `sluice bench`: load tests in the spirit of kafka-producer-perf-test, kafka-consumer-perf-test
/// and the OpenMessaging benchmark, driven by the Swift client.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure produce throughput, consume throughput, or end-to-end latency against a broker.",
        discussion: """
            A progress line goes to stderr every second; a summary table (or, with --json, one JSON object) goes \
            to stdout. Without --topic a topic is created for the run and deleted afterwards.
            """,
        subcommands: [BenchProduce.self, BenchConsume.self, BenchEndToEnd.self])
}

/// Options every bench scenario takes.
struct BenchOptions: ParsableArguments {
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Existing topic to use (default: a new topic, deleted afterwards).") var topic: String?
    @Option(help: "Partitions of the topic the run creates.") var partitions: Int32 = 6
    @Option(help: "Bytes per record value.") var recordSize: Int = 100
    @Flag(help: "Print the result as one JSON object instead of a table.") var json = false
    @Option(help: "URL of the broker's Prometheus endpoint (e.g. http://127.0.0.1:9644/metrics): print its view after the run.")
    var metrics: String?
}

/// Producer options shared by `produce` and `e2e`.
struct BenchProducerOptions: ParsableArguments {
    @Option(help: "Concurrent producers (each its own client and connections).") var producers: Int = 1
    @Option(help: "0, 1 or all.") var acks: String = "all"
    @Option(help: "none, gzip, snappy, lz4 or zstd.") var compression: String = "none"
    @Option(help: "linger.ms") var lingerMs: Int = 5
    @Option(help: "batch.size in bytes.") var batchSize: Int = 1_000_000
    @Flag(inversion: .prefixedEnableDisable, help: "Idempotence (only with acks=all).") var idempotence = true

    func producerConfig(_ client: KafkaClientConfig) throws -> KafkaProducerConfig {
        var config = KafkaProducerConfig(client: client)
        switch acks {
        case "all", "-1": config.acks = -1
        case "1": config.acks = 1
        case "0": config.acks = 0
        default: throw ValidationError("--acks must be 0, 1 or all")
        }
        guard let codec = CompressionCodec(name: compression) else {
            throw ValidationError("--compression must be none, gzip, snappy, lz4 or zstd")
        }
        config.compression = codec
        config.enableIdempotence = idempotence && config.acks == -1
        config.linger = .milliseconds(lingerMs)
        config.batchSize = batchSize
        config.maxBufferedRecords = 1_000_000
        return config
    }
}

/// A topic for one run: the given one, or a new one removed when the run ends.
struct BenchTopic {
    let name: String
    let created: Bool

    static func prepare(_ options: BenchOptions) async throws -> BenchTopic {
        if let topic = options.topic { return BenchTopic(name: topic, created: false) }
        let name = "sluice-bench-\(UInt32.random(in: 0...UInt32.max))"
        let admin = KafkaAdmin(config: try options.connection.clientConfig(), logger: quietLogger())
        do {
            try await admin.createTopic(NewTopic(name: name, partitions: options.partitions))
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        return BenchTopic(name: name, created: true)
    }

    func remove(_ options: BenchOptions) async {
        guard created, let config = try? options.connection.clientConfig() else { return }
        let admin = KafkaAdmin(config: config, logger: quietLogger())
        try? await admin.deleteTopic(name)
        await admin.close()
    }
}

/// Monotonic nanoseconds, comparable across tasks of one process (e2e stamps records with it).
func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
