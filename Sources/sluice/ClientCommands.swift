import ArgumentParser
import Glibc
import KafkaProtocol
import Logging
import NIOCore
import SluiceClient

/// Options every client command takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Bootstrap servers, HOST:PORT[,HOST:PORT] (default: $SLUICE_BOOTSTRAP or localhost:9092).")
    var bootstrap: String?

    func clientConfig() throws -> KafkaClientConfig {
        let text = bootstrap ?? getenv("SLUICE_BOOTSTRAP").map { String(cString: $0) } ?? "localhost:9092"
        do {
            var config = try KafkaClientConfig(bootstrap: text)
            config.clientId = "sluice-cli"
            return config
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// Diagnostics and progress go to stderr, never into the data on stdout.
func note(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func quietLogger() -> Logger {
    var logger = Logger(label: "sluice.cli")
    logger.logLevel = .error
    return logger
}

func parsePairs(_ pairs: [String], what: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "=") else { throw ValidationError("\(what) must be key=value, got '\(pair)'") }
        result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
    }
    return result
}

// MARK: - topic

struct TopicCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topic", abstract: "Create, list, describe, alter and delete topics.",
        subcommands: [Create.self, List.self, Describe.self, Alter.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String
        @Option(help: "Partitions (-1: the broker's num.partitions).") var partitions: Int32 = -1
        @Option(help: "Replication factor (-1: the broker's default).") var replicationFactor: Int16 = -1
        @Option(name: .customLong("config"), help: "Topic config key=value (repeatable).") var configs: [String] = []

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            defer { Task { await admin.close() } }
            try await admin.createTopic(NewTopic(name: name, partitions: partitions, replicationFactor: replicationFactor,
                                                 configs: try parsePairs(configs, what: "--config")))
            note("created topic \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics, one per line.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            for topic in try await admin.listTopics() { print(topic.name) }
            await admin.close()
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a topic's partitions, offsets and non-default configs.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            let topic = try await admin.describeTopic(name)
            let starts = try await admin.listOffsets(topic: name, spec: .earliest)
            let ends = try await admin.listOffsets(topic: name, spec: .latest)
            print("topic \(topic.name) id \(topic.id) partitions \(topic.partitions.count)")
            for partition in topic.partitions {
                print("  partition \(partition.index) leader \(partition.leader) replicas \(partition.replicas) isr \(partition.inSyncReplicas) "
                      + "offsets \(starts[partition.index] ?? -1)..\(ends[partition.index] ?? -1)")
            }
            // Brokers without DescribeConfigs (librdkafka's mock) still get the partitions shown.
            for entry in (try? await admin.describeTopicConfigs(name)) ?? [] where !entry.isDefault {
                print("  config \(entry.name)=\(entry.isSensitive ? "(sensitive)" : entry.value ?? "null")")
            }
            await admin.close()
        }
    }

    struct Alter: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a topic's configs or grow its partitions.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String
        @Option(name: .customLong("set"), help: "Config key=value to set (repeatable).") var settings: [String] = []
        @Option(name: .customLong("delete-config"), help: "Config to reset to its default (repeatable).") var deletions: [String] = []
        @Option(help: "Grow the topic to this many partitions.") var partitions: Int32?

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            var changes: [String: String?] = try parsePairs(settings, what: "--set").mapValues { Optional($0) }
            for name in deletions { changes[name] = .some(nil) }
            if !changes.isEmpty { try await admin.alterTopicConfigs(name, changes) }
            if let partitions { try await admin.createPartitions(topic: name, totalCount: partitions) }
            await admin.close()
            note("altered topic \(name)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            try await admin.deleteTopic(name)
            await admin.close()
            note("deleted topic \(name)")
        }
    }
}

// MARK: - produce

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce one record per input line (the value; a key only with --key-separator).",
        discussion: "Waits for every acknowledgement; exits non-zero when any record failed.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Topic to produce to.") var topic: String
    @Option(help: "Partition (default: by key, or sticky for unkeyed records).") var partition: Int32?
    @Option(help: "Split each line at the first occurrence into key and value.") var keySeparator: String?
    @Option(name: .customLong("header"), help: "Header key=value added to every record (repeatable).") var headers: [String] = []
    @Option(help: "Read lines from this file instead of stdin.") var file: String?
    @Option(help: "none, gzip, snappy, lz4 or zstd.") var compression: String = "none"
    @Option(help: "0, 1 or all.") var acks: String = "all"
    @Option(help: "linger in milliseconds.") var lingerMs: Int = 5

    func run() async throws {
        var config = KafkaProducerConfig(client: try connection.clientConfig())
        guard let codec = CompressionCodec(name: compression) else { throw ValidationError("unknown compression '\(compression)'") }
        config.compression = codec
        switch acks {
        case "all", "-1": config.acks = -1
        case "1": config.acks = 1
        case "0": config.acks = 0
        default: throw ValidationError("--acks must be 0, 1 or all")
        }
        config.enableIdempotence = config.acks == -1
        config.linger = .milliseconds(lingerMs)
        let recordHeaders = try parsePairs(headers, what: "--header").sorted { $0.key < $1.key }
            .map { RecordHeader(key: $0.key, value: ByteBuffer(string: $0.value)) }
        var input: UnsafeMutablePointer<FILE>? = nil
        if let file {
            guard let opened = fopen(file, "r") else { throw ValidationError("cannot open \(file)") }
            input = opened
        }
        defer { if let input { fclose(input) } }

        let producer = try KafkaProducer(config: config, logger: quietLogger())
        let failures = Task {
            var failed = 0
            var firstError: KafkaClientError?
            for await report in producer.deliveryReports {
                if case .failure(let error) = report.result {
                    failed += 1
                    if firstError == nil { firstError = error }
                }
            }
            return (failed, firstError)
        }
        var progress = ProgressLine("produced", recordSize: 0)
        var count = 0
        while let line = readInputLine(input) {
            var key: ByteBuffer?
            var value = line
            if let keySeparator, let range = line.range(of: keySeparator) {
                key = ByteBuffer(string: String(line[..<range.lowerBound]))
                value = String(line[range.upperBound...])
            }
            let record = ProducerRecord(topic: topic, partition: partition, key: key, value: ByteBuffer(string: value), headers: recordHeaders)
            if try producer.tryEnqueue(record) == nil { try await producer.enqueue(record) }
            count += 1
            progress.update(count: count, latency: nil)
        }
        await producer.close()
        let (failed, firstError) = await failures.value
        if count >= 10_000 { progress.update(count: count, latency: nil, force: true) }
        if failed > 0 {
            note("\(failed) of \(count) records failed; first error: \(firstError.map { "\($0)" } ?? "?")")
            throw ExitCode(1)
        }
        let retried = producer.statistics.batchesRetried
        note("produced \(count) records to \(topic)" + (retried > 0 ? " (\(retried) batches retried)" : ""))
    }
}

extension String {
    func range(of separator: String) -> Range<String.Index>? {
        guard !separator.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(separator) { return index..<self.index(index, offsetBy: separator.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

/// One line from `file` (stdin when nil), without its newline.
func readInputLine(_ file: UnsafeMutablePointer<FILE>?) -> String? {
    guard let file else { return readLine(strippingNewline: true) }
    var buffer: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(buffer) }
    let length = getline(&buffer, &capacity, file)
    guard length >= 0, let buffer else { return nil }
    var line = String(cString: buffer)
    if line.hasSuffix("\n") { line.removeLast() }
    return line
}

// MARK: - consume

struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Print records, one value per line (null values as empty lines).",
        discussion: """
            Without a start option it starts at the end. With --group (and no --partition, --offset or --timestamp) it \
            joins the group like kafka-console-consumer: partitions are shared with the group's other members, reading \
            starts at the group's committed offsets (--from-beginning applies where there are none), and positions are \
            committed as it goes and on exit. With --group and an explicit start, it reads the partitions itself and \
            commits to the group on exit.
            """)
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Topic to consume.") var topic: String
    @Option(help: "Only this partition.") var partition: Int32?
    @Option(help: "Consumer group to join (or, with an explicit start, only to commit to).") var group: String?
    @Option(help: "With --group: range or cooperative-sticky.") var assignmentStrategy: String = "range"
    @Flag(help: "Start at the beginning of every partition (with --group: where nothing is committed).") var fromBeginning = false
    @Option(help: "Start at this offset (every partition, or --partition).") var offset: Int64?
    @Option(help: "Start at the first record at or after this timestamp (ms).") var timestamp: Int64?
    @Option(help: "Exit after this many records (counted across partitions).") var count: Int?
    @Flag(help: "Exit once every partition's end (as of start) is reached.") var exitAtEnd = false
    @Option(help: "value, key-value (key<TAB>value) or json.") var format: String = "value"

    private var joinsGroup: Bool { group != nil && partition == nil && offset == nil && timestamp == nil }

    func run() async throws {
        guard ["value", "key-value", "json"].contains(format) else { throw ValidationError("--format must be value, key-value or json") }
        guard let strategy = PartitionAssignmentStrategy(rawValue: assignmentStrategy) else {
            throw ValidationError("--assignment-strategy must be range or cooperative-sticky")
        }
        let clientConfig = try connection.clientConfig()
        var config = KafkaConsumerConfig(client: clientConfig)
        config.groupId = group
        config.autoOffsetReset = fromBeginning ? .earliest : .latest
        config.assignmentStrategies = [strategy]
        config.heartbeatInterval = .seconds(1)
        config.sessionTimeout = .seconds(10)
        let consumer = KafkaConsumer(config: config, logger: quietLogger())
        let admin = KafkaAdmin(config: clientConfig, logger: quietLogger())
        let metadata = try await admin.describeTopic(topic)
        let partitions = metadata.partitions.map(\.index).filter { partition == nil || $0 == partition }
            .map { TopicPartition(topic, $0) }
        var starts: [TopicPartition: Int64] = [:]
        if joinsGroup, let group {
            try await consumer.subscribe(topics: [topic])
            if exitAtEnd {
                // Where this group member starts: the committed offset, or the reset position.
                let committed = try await admin.committedOffsets(group: group)
                let reset = try await admin.listOffsets(topic: topic, spec: fromBeginning ? .earliest : .latest)
                for tp in partitions { starts[tp] = committed[tp].map(\.offset).flatMap { $0 >= 0 ? $0 : nil } ?? reset[tp.partition] ?? 0 }
            }
        } else {
            try await consumer.assign(partitions)
            for tp in partitions {
                if fromBeginning { consumer.seek(tp, to: .beginning) }
                if let offset { consumer.seek(tp, to: .offset(offset)) }
                if let timestamp { consumer.seek(tp, to: .timestamp(timestamp)) }
            }
            if exitAtEnd {
                for tp in partitions {
                    while consumer.position(tp) == nil { try await Task.sleep(for: .milliseconds(10)) }
                    starts[tp] = consumer.position(tp)
                }
            }
        }
        var remainingEnds: [TopicPartition: Int64] = [:]
        if exitAtEnd {
            let ends = try await admin.listOffsets(topic: topic, partitions: partitions.map(\.partition), spec: .latest)
            // Partitions already at their end need nothing read.
            for tp in partitions where (starts[tp] ?? 0) < (ends[tp.partition] ?? 0) { remainingEnds[tp] = ends[tp.partition] }
        }
        await admin.close()
        var printed = 0
        var progress = ProgressLine("consumed", recordSize: 0)
        if !(exitAtEnd && remainingEnds.isEmpty) && count != 0 {
            for await record in consumer.records {
                output(record)
                printed += 1
                progress.update(count: printed, latency: nil)
                if let count, printed >= count { break }
                let tp = TopicPartition(record.topic, record.partition)
                if exitAtEnd, let end = remainingEnds[tp], record.offset + 1 >= end {
                    remainingEnds[tp] = nil
                    if remainingEnds.isEmpty { break }
                }
            }
        }
        fflush(nil)
        if group != nil { try await consumer.commit() }
        await consumer.close()
        note("consumed \(printed) records from \(topic)")
    }

    private func output(_ record: ConsumerRecord) {
        let value = record.value.map { String(buffer: $0) } ?? ""
        switch format {
        case "key-value":
            print("\(record.key.map { String(buffer: $0) } ?? "")\t\(value)")
        case "json":
            let key = record.key.map { jsonString(String(buffer: $0)) } ?? "null"
            let jsonValue = record.value.map { jsonString(String(buffer: $0)) } ?? "null"
            let headers = record.headers.map { "\(jsonString($0.key)):\($0.value.map { jsonString(String(buffer: $0)) } ?? "null")" }
            print("{\"topic\":\(jsonString(record.topic)),\"partition\":\(record.partition),\"offset\":\(record.offset),"
                  + "\"timestamp\":\(record.timestamp),\"key\":\(key),\"value\":\(jsonValue),\"headers\":{\(headers.joined(separator: ","))}}")
        default:
            print(value)
        }
    }
}

func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

// MARK: - group

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "List and describe consumer groups; reset their offsets.",
        subcommands: [List.self, Describe.self, ResetOffsets.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List groups: id, state, protocol type.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            for group in try await admin.listGroups() {
                print("\(group.groupId)\t\(group.state)\t\(group.protocolType.isEmpty ? "-" : group.protocolType)")
            }
            await admin.close()
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a group's members, committed offsets and lag.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var group: String

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            let description = try await admin.describeGroup(group)
            print("group \(group) state \(description.state) protocol \(description.protocolName.isEmpty ? "-" : description.protocolName)")
            for member in description.members {
                print("  member \(member.memberId) client \(member.clientId) host \(member.clientHost) "
                      + "partitions \(member.assignment.map(\.description).joined(separator: ","))")
            }
            let committed = try await admin.committedOffsets(group: group)
            var ends: [String: [Int32: Int64]] = [:]
            for topic in Set(committed.keys.map(\.topic)) {
                ends[topic] = try await admin.listOffsets(topic: topic, spec: .latest)
            }
            for (tp, offset) in committed.sorted(by: { $0.key < $1.key }) {
                let end = ends[tp.topic]?[tp.partition] ?? -1
                print("  \(tp) committed \(offset.offset) end \(end) lag \(end >= 0 && offset.offset >= 0 ? end - offset.offset : -1)")
            }
            await admin.close()
        }
    }

    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets", abstract: "Set a group's committed offsets for a topic (the group must have no members).")
        @OptionGroup var connection: ConnectionOptions
        @Argument var group: String
        @Option(help: "Topic whose offsets to reset.") var topic: String
        @Flag(help: "To each partition's first offset.") var toEarliest = false
        @Flag(help: "To each partition's end.") var toLatest = false
        @Option(help: "To this offset.") var toOffset: Int64?
        @Option(help: "To the first record at or after this timestamp (ms).") var toTimestamp: Int64?

        func run() async throws {
            let choices = [toEarliest, toLatest, toOffset != nil, toTimestamp != nil].filter { $0 }.count
            guard choices == 1 else { throw ValidationError("give exactly one of --to-earliest, --to-latest, --to-offset, --to-timestamp") }
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            var targets: [Int32: Int64]
            if let toOffset {
                let partitions = try await admin.describeTopic(topic).partitions.map(\.index)
                targets = Dictionary(uniqueKeysWithValues: partitions.map { ($0, toOffset) })
            } else if let toTimestamp {
                targets = try await admin.listOffsets(topic: topic, spec: .timestamp(toTimestamp))
                let ends = try await admin.listOffsets(topic: topic, spec: .latest)
                for (partition, offset) in targets where offset < 0 { targets[partition] = ends[partition] }
            } else {
                targets = try await admin.listOffsets(topic: topic, spec: toEarliest ? .earliest : .latest)
            }
            try await admin.commitOffsets(group: group, Dictionary(uniqueKeysWithValues: targets.map { (TopicPartition(topic, $0.key), $0.value) }))
            for (partition, offset) in targets.sorted(by: { $0.key < $1.key }) { print("\(topic)[\(partition)] \(offset)") }
            await admin.close()
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an empty group and its offsets.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var group: String

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            if let error = try await admin.deleteGroups([group])[group] ?? nil {
                await admin.close()
                throw error
            }
            await admin.close()
            note("deleted group \(group)")
        }
    }
}
