import ArgumentParser
import Glibc
import SluiceClient

/// How an error thrown by a command's `run` is reported. ArgumentParser's `main` reports such
/// errors against the root command — a ValidationError came with `sluice <subcommand>` as the
/// usage — because once parsing is over it no longer knows which subcommand ran; here that
/// subcommand is known. Client errors get a sentence a person can act on.
struct CommandFailure {
    let error: any Error
    let command: any ParsableCommand.Type

    init(_ error: any Error, in command: any ParsableCommand.Type) {
        self.error = error
        self.command = command
    }

    func exit() -> Never {
        switch error {
        case let validation as ValidationError:
            // What ArgumentParser prints for a ValidationError from `validate()`.
            let path = Self.path(to: command)?.joined(separator: " ") ?? Sluice._commandName
            writeStderr("Error: \(validation.message)")
            writeStderr("Usage: \(Sluice.usageString(for: command))")
            writeStderr("  See '\(path) --help' for more information.")
            Glibc.exit(ExitCode.validationFailure.rawValue)
        case let client as KafkaClientError:
            writeStderr("Error: \(Self.describe(client))")
            Glibc.exit(ExitCode.failure.rawValue)
        default:
            // ExitCode, CleanExit and anything else, as ArgumentParser reports them.
            Sluice.exit(withError: error)
        }
    }

    /// The words that name `command`: ["sluice", "topic", "create"].
    static func path(to command: any ParsableCommand.Type, from root: any ParsableCommand.Type = Sluice.self) -> [String]? {
        if ObjectIdentifier(command) == ObjectIdentifier(root) { return [root._commandName] }
        for subcommand in root.configuration.subcommands {
            if let rest = path(to: command, from: subcommand) { return [root._commandName] + rest }
        }
        return nil
    }

    static func describe(_ error: KafkaClientError) -> String {
        if error.kind == .connection && error.systemErrorCode == ECONNREFUSED {
            // The usual cause for someone trying the CLI: no broker started yet, or another port.
            return "\(error.message) — is a broker running there? (sluice serve, or --bootstrap)"
        }
        if error.kind == .connection || error.kind == .timeout { return error.message }
        return error.description
    }
}
