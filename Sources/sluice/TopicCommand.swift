import ArgumentParser
import SluiceClient

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
                // As kafka-topics.sh flags them: no leader at all, or fewer replicas in sync than assigned.
                let health = partition.leader < 0 ? "  OFFLINE"
                    : partition.inSyncReplicas.count < partition.replicas.count ? "  UNDER-REPLICATED" : ""
                print("  partition \(partition.index) leader \(partition.leader) replicas \(partition.replicas) isr \(partition.inSyncReplicas) "
                      + "offsets \(starts[partition.index] ?? -1)..\(ends[partition.index] ?? -1)" + health)
            }
            // Brokers without DescribeConfigs (librdkafka's mock) still get the partitions shown.
            // The cleanup policy always: whether a topic is compacted is what its readers assume.
            for entry in (try? await admin.describeTopicConfigs(name)) ?? [] where !entry.isDefault || entry.name == "cleanup.policy" {
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
