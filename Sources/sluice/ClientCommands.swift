import ArgumentParser
import Glibc
import Logging
import SluiceClient

/// Options every client command takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Bootstrap servers, HOST:PORT[,HOST:PORT] (default: $SLUICE_BOOTSTRAP or localhost:9092).")
    var bootstrap: String?
    @Option(name: .customLong("sasl-mechanism"), help: "Log in on a SASL_PLAINTEXT listener: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    var saslMechanism: String?
    @Option(name: .customLong("sasl-username"), help: "The SASL user (default: $SLUICE_SASL_USERNAME).")
    var saslUsername: String?
    @Option(name: .customLong("sasl-password"),
            help: "The SASL password (default: $SLUICE_SASL_PASSWORD, which keeps it out of the process list).")
    var saslPassword: String?

    func clientConfig() throws -> KafkaClientConfig {
        let text = bootstrap ?? environment("SLUICE_BOOTSTRAP") ?? "localhost:9092"
        do {
            var config = try KafkaClientConfig(bootstrap: text)
            config.clientId = "sluice-cli"
            config.sasl = try sasl()
            return config
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
    }

    private func sasl() throws -> SaslConfig? {
        guard let name = saslMechanism ?? environment("SLUICE_SASL_MECHANISM") else { return nil }
        guard let mechanism = SaslConfig.Mechanism(rawValue: name.uppercased()) else {
            throw ValidationError("--sasl-mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got '\(name)'")
        }
        guard let username = saslUsername ?? environment("SLUICE_SASL_USERNAME"),
              let password = saslPassword ?? environment("SLUICE_SASL_PASSWORD") else {
            throw ValidationError("--sasl-mechanism needs --sasl-username and --sasl-password (or $SLUICE_SASL_USERNAME and $SLUICE_SASL_PASSWORD)")
        }
        return SaslConfig(mechanism: mechanism, username: username, password: password)
    }
}

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// Diagnostics and progress go to stderr, never into the data on stdout.
func note(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// Writes out whatever stdout (and any other stdio stream) holds in its buffer.
func flushOutput() {
    fflush(nil)
}

func quietLogger() -> Logger {
    var logger = Logger(label: "sluice.cli")
    logger.logLevel = .error
    return logger
}

func parsePairs(_ pairs: [String], what: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "=") else { throw ValidationError("\(what) must be key=value, got '\(pair)'") }
        result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
    }
    return result
}

func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
