import ArgumentParser

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A Kafka-protocol event-streaming broker, and a client for any Kafka-protocol broker.",
        subcommands: [Serve.self, TopicCommand.self, ProduceCommand.self, ConsumeCommand.self, GroupCommand.self, BenchCommand.self])
}
