import ArgumentParser
import SluiceClient

/// `sluice user`: SCRAM users, as `kafka-configs --entity-type users --alter --add-config
/// 'SCRAM-SHA-256=[password=...]'` manages them. The password is salted here; only the salted
/// password goes to the broker.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Add, list and remove SCRAM users (SASL_PLAINTEXT logins).",
        subcommands: [Add.self, List.self, Remove.self])

    static func mechanisms(_ names: [String]) throws -> [SaslConfig.Mechanism] {
        let chosen = names.isEmpty ? ["SCRAM-SHA-256", "SCRAM-SHA-512"] : names
        return try chosen.map { name in
            guard let mechanism = SaslConfig.Mechanism(rawValue: name.uppercased()), mechanism != .plain else {
                throw ValidationError("--mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512, got '\(name)' (PLAIN users are in the broker's JAAS setting)")
            }
            return mechanism
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's SCRAM password (adds the user, or changes the password).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The user name.") var name: String
        @Option(help: "The password (default: $SLUICE_USER_PASSWORD).") var password: String?
        @Option(help: "SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default: both).") var mechanism: [String] = []
        @Option(help: "PBKDF2 iterations, 4096 to 16384.") var iterations: Int = 4096

        func run() async throws {
            guard let password = password ?? environment("SLUICE_USER_PASSWORD"), !password.isEmpty else {
                throw ValidationError("give the password with --password or $SLUICE_USER_PASSWORD")
            }
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            defer { Task { await admin.close() } }
            for mechanism in try UserCommand.mechanisms(mechanism) {
                try await admin.setScramCredential(user: name, mechanism: mechanism, password: password, iterations: iterations)
                print("set \(mechanism.rawValue) credential of \(name) (\(iterations) iterations)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users with SCRAM credentials: name, mechanism, iterations.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Only these users (default: all).") var names: [String] = []

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            let users = try await admin.describeUserScramCredentials(users: names.isEmpty ? nil : names)
            await admin.close()
            print("User\tMechanism\tIterations")
            for (user, infos) in users.sorted(by: { $0.key < $1.key }) {
                for info in infos.sorted(by: { $0.mechanism.rawValue < $1.mechanism.rawValue }) {
                    print("\(user)\t\(info.mechanism.rawValue)\t\(info.iterations)")
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user's SCRAM credentials.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The user name.") var name: String
        @Option(help: "SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default: every one the user has).") var mechanism: [String] = []

        func run() async throws {
            let admin = KafkaAdmin(config: try connection.clientConfig(), logger: quietLogger())
            defer { Task { await admin.close() } }
            let chosen = mechanism.isEmpty
                ? (try await admin.describeUserScramCredentials(users: [name])[name] ?? []).map(\.mechanism)
                : try UserCommand.mechanisms(mechanism)
            for mechanism in chosen {
                try await admin.deleteScramCredential(user: name, mechanism: mechanism)
                print("removed \(mechanism.rawValue) credential of \(name)")
            }
        }
    }
}
