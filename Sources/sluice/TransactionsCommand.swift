import ArgumentParser
import SluiceClient

/// `sluice transactions`, after kafka-transactions.sh: list the transactional ids, describe one,
/// and show a partition's producers with their open transactions (a hanging transaction shows
/// there as an old start offset).
struct TransactionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transactions", abstract: "List and describe transactions and the producers of a partition.",
        subcommands: [List.self, Describe.self, DescribeProducers.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List transactional ids: id, producer id, state.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only these states (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort).") var state: [String] = []

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            let listed = try await admin.listTransactions(states: state)
            await admin.close()
            print("TransactionalId\tProducerId\tState")
            for listing in listed { print("\(listing.transactionalId)\t\(listing.producerId)\t\(listing.state)") }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe a transactional id's transaction.")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("transactional-id"), help: "The transactional id.") var transactionalId: String

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            let described: TransactionDescription
            do {
                described = try await admin.describeTransaction(transactionalId)
            } catch {
                await admin.close()
                note("Transactional id '\(transactionalId)': \(error)")
                throw ExitCode(1)
            }
            await admin.close()
            print("TransactionalId\tProducerId\tProducerEpoch\tTransactionState\tTransactionTimeoutMs\tTransactionStartTimeMs\tTopicPartitions")
            print("\(described.transactionalId)\t\(described.producerId)\t\(described.producerEpoch)\t\(described.state)\t"
                  + "\(described.timeoutMs)\t\(described.startTimeMs >= 0 ? "\(described.startTimeMs)" : "None")\t"
                  + described.partitions.map { "\($0.topic)-\($0.partition)" }.joined(separator: ","))
        }
    }

    struct DescribeProducers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "describe-producers",
                                                        abstract: "Show the producers a partition's leader knows and their open transactions.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Topic.") var topic: String
        @Option(help: "Partition.") var partition: Int32

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            let producers = try await admin.describeProducers(topic: topic, partition: partition)
            await admin.close()
            print("ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset")
            for producer in producers {
                print("\(producer.producerId)\t\(producer.producerEpoch)\t\(producer.coordinatorEpoch)\t\(producer.lastSequence)\t"
                      + "\(producer.lastTimestampMs)\t\(producer.currentTransactionStartOffset >= 0 ? "\(producer.currentTransactionStartOffset)" : "None")")
            }
        }
    }
}
