import ArgumentParser
import Glibc
import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceSASL
import SluiceServer

/// `sluice format`: a data directory's cluster and node ids (Kafka's `kafka-storage format`),
/// and, for a single broker, its first SCRAM users (`--add-scram`, Kafka's syntax), so a broker
/// whose only listener needs a login can be reached the first time it starts.
struct FormatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "format", abstract: "Write a data directory's cluster and node ids, or print a new cluster id.")
    @Option(help: "The data directory to format (created if missing).") var dataDir: String?
    @Option(help: "The cluster id every node of the cluster shares (default: a new one).") var clusterId: String?
    @Option(help: "This node's id.") var nodeId: Int32 = 1
    @Flag(help: "Leave an already formatted directory as it is instead of failing.") var ignoreFormatted = false
    @Option(name: .customLong("add-scram"),
            help: "A first SCRAM user for a single broker, in Kafka's syntax: 'SCRAM-SHA-256=[name=admin,password=admin-secret]' (repeatable).")
    var addScram: [String] = []

    func run() throws {
        try format()
        if !addScram.isEmpty {
            guard let dataDir else { throw ValidationError("--add-scram needs --data-dir") }
            let file = SecurityFile(dataDirectory: dataDir)
            var credentials = try file.load()
            for text in addScram {
                let (user, mechanism, password, iterations) = try Self.parseScram(text)
                credentials.apply(UserScramCredentials.record(
                    user: user, mechanism: mechanism, credential: ScramCredential(mechanism: mechanism, password: password, iterations: iterations)))
                print("added \(mechanism.name) credential of \(user) to \(dataDir)")
            }
            try file.save(credentials)
        }
    }

    private func format() throws {
        let clusterId = self.clusterId ?? KafkaUUID.random().description
        guard let dataDir else {
            print(clusterId)
            return
        }
        mkdir(dataDir, 0o755)
        let path = dataDir + "/meta.properties"
        if access(path, F_OK) == 0 {
            if ignoreFormatted || !addScram.isEmpty { return }
            throw ValidationError("\(dataDir) is already formatted (\(path) exists)")
        }
        let text = "version=1\ncluster.id=\(clusterId)\nnode.id=\(nodeId)\n"
        guard let file = fopen(path, "w") else { throw ValidationError("cannot write \(path)") }
        fputs(text, file)
        fflush(file)
        fsync(fileno(file))
        fclose(file)
        print("formatted \(dataDir): cluster.id=\(clusterId) node.id=\(nodeId)")
    }
}

extension FormatCommand {
    /// Kafka's `kafka-storage format --add-scram` syntax: `MECHANISM=[name=N,password=P(,iterations=I)]`.
    static func parseScram(_ text: String) throws -> (String, ScramMechanism, String, Int) {
        guard let equals = text.firstIndex(of: "="), text.hasSuffix("]"),
              let mechanism = ScramMechanism(name: String(text[..<equals]).uppercased()),
              text[text.index(after: equals)...].hasPrefix("[") else {
            throw ValidationError("--add-scram expects 'SCRAM-SHA-256=[name=NAME,password=PASSWORD]' or SCRAM-SHA-512")
        }
        let inside = text[text.index(equals, offsetBy: 2)..<text.index(before: text.endIndex)]
        var fields: [String: String] = [:]
        for part in inside.split(separator: ",") {
            guard let eq = part.firstIndex(of: "=") else { throw ValidationError("--add-scram: '\(part.prefix(20))' is not key=value") }
            fields[String(part[..<eq]).lowercased()] = part[part.index(after: eq)...].strippingQuotes()
        }
        guard let name = fields["name"], !name.isEmpty, let password = fields["password"], !password.isEmpty else {
            throw ValidationError("--add-scram needs name= and password=")
        }
        let iterations = Int(fields["iterations"] ?? "") ?? ScramMechanism.minIterations
        guard (ScramMechanism.minIterations...ScramMechanism.maxIterations).contains(iterations) else {
            throw ValidationError("--add-scram: iterations must be \(ScramMechanism.minIterations) to \(ScramMechanism.maxIterations)")
        }
        return (name, mechanism, password, iterations)
    }
}

private extension Substring {
    /// Kafka lets the values be quoted: `password="a b"`.
    func strippingQuotes() -> String {
        hasPrefix("\"") && hasSuffix("\"") && count >= 2 ? String(dropFirst().dropLast()) : String(self)
    }
}
