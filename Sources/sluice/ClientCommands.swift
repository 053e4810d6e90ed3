import ArgumentParser
import Glibc
import Logging
import SluiceClient

/// Options every client command takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Bootstrap servers, HOST:PORT[,HOST:PORT] (default: $SLUICE_BOOTSTRAP or localhost:9092).")
    var bootstrap: String?

    func clientConfig() throws -> KafkaClientConfig {
        let text = bootstrap ?? getenv("SLUICE_BOOTSTRAP").map { String(cString: $0) } ?? "localhost:9092"
        do {
            var config = try KafkaClientConfig(bootstrap: text)
            config.clientId = "sluice-cli"
            return config
        } catch {
            throw ValidationError("\(error)")
        }
    }
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
