import ArgumentParser
import SluiceClient

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A Kafka-protocol event-streaming broker, and a client for any Kafka-protocol broker.",
        version: SluiceVersion.current,
        subcommands: [Serve.self, FormatCommand.self, ClusterCommand.self, TopicCommand.self, ProduceCommand.self, ConsumeCommand.self, GroupCommand.self, TransactionsCommand.self, UserCommand.self, BenchCommand.self])

    /// ArgumentParser's own `main`, but for errors thrown by a command's `run`: reported against
    /// that subcommand (its usage, not the top-level one), and client errors worded for a person
    /// (`CommandFailure`).
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // Parse and `validate()` errors already carry the subcommand they belong to.
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch {
            CommandFailure(error, in: type(of: command)).exit()
        }
    }
}
