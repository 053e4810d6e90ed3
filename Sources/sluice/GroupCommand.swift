import ArgumentParser
import SluiceClient

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
            let committed = try await admin.committedOffsets(group: group)
            // A group the coordinator does not know is answered as Dead with nothing in it; Kafka's
            // kafka-consumer-groups says so instead of describing an empty group.
            if description.state == "Dead" && description.members.isEmpty && committed.isEmpty {
                await admin.close()
                note("Consumer group '\(group)' does not exist.")
                throw ExitCode(1)
            }
            print("group \(group) state \(description.state) protocol \(description.protocolName.isEmpty ? "-" : description.protocolName)")
            for member in description.members {
                print("  member \(member.memberId) client \(member.clientId) host \(member.clientHost) "
                      + "partitions \(member.assignment.map(\.description).joined(separator: ","))")
            }
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
