import ArgumentParser
import Glibc
import NIOCore
import SluiceClient

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
