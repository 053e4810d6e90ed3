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
            commits to the group on exit. What is committed is exactly what was printed.

            The first SIGINT or SIGTERM stops reading: what was received is printed, its offsets are committed (with \
            --group), the group is left, and the exit status is 0. A second signal exits at once (130, 143).
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
    @Option(help: "read_uncommitted (everything written) or read_committed (committed transactions and non-transactional records, up to the last stable offset).")
    var isolationLevel: String = "read_uncommitted"

    private var joinsGroup: Bool { group != nil && partition == nil && offset == nil && timestamp == nil }

    func validate() throws {
        guard ["value", "key-value", "json"].contains(format) else { throw ValidationError("--format must be value, key-value or json") }
        guard PartitionAssignmentStrategy(rawValue: assignmentStrategy) != nil else {
            throw ValidationError("--assignment-strategy must be range or cooperative-sticky")
        }
        if let count, count < 0 { throw ValidationError("--count must not be negative") }
        guard ["read_uncommitted", "read_committed"].contains(isolationLevel) else {
            throw ValidationError("--isolation-level must be read_uncommitted or read_committed")
        }
    }

    func run() async throws {
        // First, so that a signal during start-up also ends the command gracefully.
        let signals = ShutdownSignals.install()
        let clientConfig = try connection.clientConfig()
        var config = KafkaConsumerConfig(client: clientConfig)
        config.groupId = group
        config.isolationLevel = isolationLevel == "read_committed" ? .readCommitted : .readUncommitted
        config.autoOffsetReset = fromBeginning ? .earliest : .latest
        config.assignmentStrategies = [PartitionAssignmentStrategy(rawValue: assignmentStrategy) ?? .range]
        config.heartbeatInterval = .seconds(1)
        config.sessionTimeout = .seconds(10)
        // Commits store what was printed and flushed (`storeOffsets` below), never records the
        // consumer handed out that are still in stdout's buffer — not even the automatic ones
        // made before a rebalance takes partitions away.
        config.enableAutoOffsetStore = false
        let admin = KafkaAdmin(config: clientConfig, logger: quietLogger())
        let consumer = KafkaConsumer(config: config, logger: quietLogger())
        let plan: ReadPlan
        do {
            plan = try await prepare(consumer, admin: admin)
        } catch {
            await admin.close()
            await consumer.close()
            throw error
        }
        await admin.close()

        let progress = ProgressLine("consumed")
        let reading = Task { await read(consumer, plan: plan, progress: progress) }
        // The loop ends once the batch in hand is printed; a wait for the next batch ends at once.
        signals.onShutdown { reading.cancel() }
        // Under read_committed the offsets just before an end are often transaction markers,
        // which print nothing: the position passing every end is what says they were reached.
        let ends = plan.remainingEnds
        let endWatcher = exitAtEnd && !ends.isEmpty ? Task {
            while !Task.isCancelled {
                if ends.allSatisfy({ partition, end in (consumer.position(partition) ?? -1) >= end }) {
                    reading.cancel()
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        } : nil
        let printed = await reading.value
        endWatcher?.cancel()
        progress.stop()
        // Flushed before anything that talks to the broker, so a second signal (which exits
        // without waiting) finds everything printed already out.
        flushOutput()
        var failure: (any Error)?
        if group != nil {
            do {
                try await consumer.commit()
            } catch {
                failure = error
            }
        }
        await consumer.close()
        note("consumed \(printed) records from \(topic)")
        if let failure {
            note("could not commit what was printed: \(failure)")
            throw ExitCode(1)
        }
    }

    /// Where reading starts and, with --exit-at-end, where it stops.
    private struct ReadPlan: Sendable {
        /// Per partition, the end offset (as of start) still to be reached.
        var remainingEnds: [TopicPartition: Int64] = [:]
    }

    private func prepare(_ consumer: KafkaConsumer, admin: KafkaAdmin) async throws -> ReadPlan {
        let metadata = try await admin.describeTopic(topic)
        if let partition, !metadata.partitions.contains(where: { $0.index == partition }) {
            // Reading nothing and exiting 0 looked like an empty partition.
            let count = metadata.partitions.count
            throw KafkaClientError.broker(.unknownTopicOrPartition,
                                          "\(topic) has \(count) partitions (0 to \(count - 1)); there is no partition \(partition)")
        }
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
        var plan = ReadPlan()
        if exitAtEnd {
            let ends = try await admin.listOffsets(topic: topic, partitions: partitions.map(\.partition), spec: .latest)
            // Partitions already at their end need nothing read.
            for tp in partitions where (starts[tp] ?? 0) < (ends[tp.partition] ?? 0) { plan.remainingEnds[tp] = ends[tp.partition] }
        }
        return plan
    }

    /// Prints records until --count, --exit-at-end or cancellation (the first signal); returns
    /// how many it printed. A fetched batch at a time: printed, flushed, and only then stored as
    /// the offsets to commit — so a commit never covers a record that is not out yet.
    private func read(_ consumer: KafkaConsumer, plan: ReadPlan, progress: ProgressLine) async -> Int {
        var remainingEnds = plan.remainingEnds
        var printed = 0
        if (exitAtEnd && remainingEnds.isEmpty) || count == 0 { return 0 }
        reading: for await batch in consumer.batches {
            var next: [TopicPartition: Int64] = [:]
            var done = false
            for record in batch {
                output(record)
                printed += 1
                let tp = TopicPartition(record.topic, record.partition)
                next[tp] = record.offset + 1
                if let count, printed >= count {
                    done = true
                    break
                }
                if exitAtEnd, let end = remainingEnds[tp], record.offset + 1 >= end {
                    remainingEnds[tp] = nil
                    if remainingEnds.isEmpty {
                        done = true
                        break
                    }
                }
            }
            flushOutput()
            consumer.storeOffsets(next)
            progress.set(printed)
            // Cancelled (a signal): the batch in hand is printed; no further one is taken.
            if done || Task.isCancelled { break reading }
        }
        return printed
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
