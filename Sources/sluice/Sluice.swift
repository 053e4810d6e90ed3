import ArgumentParser

@main
struct Sluice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A Kafka-protocol event-streaming broker.",
        subcommands: [Serve.self])
}
