import ArgumentParser
import Dispatch
import Glibc
import Logging
import SluiceCore
import SluiceServer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a broker (default: localhost:9092, data in ./data).",
        discussion: "Settings, by Kafka's names (defaults shown). Set them in a properties file (--config), as SLUICE_* environment variables (SLUICE_NUM_PARTITIONS=3), or with --set key=value; later sources win.\n\n"
            + BrokerConfig.settings.map { setting in
                let shown = setting.defaultValue.map { $0.isEmpty ? "(empty)" : $0 } ?? "(not set)"
                return "  \(setting.name) = \(shown)\(setting.dynamic ? "  [dynamic]" : "")\n      \(setting.help)"
            }.joined(separator: "\n")
            + "\n\n[dynamic] settings can also be changed while the broker runs, with AlterConfigs or IncrementalAlterConfigs on the broker's id (or \"\" for every broker); they are kept in the data directory.")

    @Option(help: "HOST:PORT to listen on (port 0 picks a free port).") var listen: String?
    @Option(help: "Data directory.") var dataDir: String?
    @Option(help: "HOST:PORT to advertise to clients.") var advertised: String?
    @Option(help: "A properties file with settings.") var config: String?
    @Option(name: .customLong("set"), help: "key=value setting (repeatable).") var settings: [String] = []

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "sluice")
        var broker = BrokerConfig()
        do {
            if let config {
                guard let text = readText(config) else { throw ConfigError("cannot read \(config)") }
                try broker.apply(BrokerConfig.parseProperties(text))
            }
            var environment: [String: String] = [:]
            var pointer = environ
            while let entry = pointer.pointee {
                let text = String(cString: entry)
                if let equals = text.firstIndex(of: "=") { environment[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
                pointer += 1
            }
            try broker.apply(BrokerConfig.environmentPairs(environment))
            var pairs: [(String, String)] = []
            for setting in settings {
                guard let equals = setting.firstIndex(of: "=") else { throw ConfigError("--set expects key=value, got '\(setting)'") }
                pairs.append((String(setting[..<equals]), String(setting[setting.index(after: equals)...])))
            }
            if let listen { pairs.append(("listeners", listen)) }
            if let dataDir { pairs.append(("log.dirs", dataDir)) }
            if let advertised { pairs.append(("advertised.listeners", advertised)) }
            try broker.apply(pairs)
        } catch {
            throw ValidationError("\(error)")
        }

        let server: KafkaServer
        do {
            server = try KafkaServer.start(config: broker, logger: logger)
        } catch {
            if let failure = ListenFailure(error, listener: broker.string("listeners"), metricsListener: broker.string("metrics.listener")) {
                writeStderr("sluice: \(failure.message)")
            } else {
                writeStderr("sluice: cannot start: \(error)")
            }
            throw ExitCode(1)
        }
        // The other listeners, one line each before the main one, for scripts that start a broker on port 0.
        for (name, address) in server.listenerAddresses.dropFirst() {
            writeStderr("listener \(name) on \(address.ipAddress ?? "?"):\(address.port ?? 0)")
        }
        writeStderr("listening on \(server.context.advertisedHost == "localhost" && server.localAddress.ipAddress != nil ? server.localAddress.ipAddress! : server.context.advertisedHost):\(server.localAddress.port ?? 0)")

        let stop = DispatchSemaphore(value: 0)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let sources = [SIGTERM, SIGINT].map { signalNumber in
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        // The sources must outlive the wait: released early (as an optimised build may), they
        // would stop delivering the signals.
        withExtendedLifetime(sources) { stop.wait() }
        server.shutdown()
    }
}

func writeStderr(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
