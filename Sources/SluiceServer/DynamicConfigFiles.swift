import Glibc
import SluiceCore
import SluiceStorage

/// Dynamic broker settings in the data directory: `__sluice_configs/broker-default.properties`
/// (the cluster default) and `broker-<id>.properties` (this broker), one `key=value` per line,
/// written atomically and fdatasync'd before AlterConfigs is answered. The cluster's metadata
/// log takes this role once brokers share one.
struct DynamicConfigFiles: DynamicConfigStore {
    let folder: String
    let nodeId: Int32

    init(dataDirectory: String, nodeId: Int32) {
        folder = dataDirectory + "/__sluice_configs"
        self.nodeId = nodeId
    }

    func load() throws -> (defaults: [String: String], broker: [String: String]) {
        (read(path(for: .clusterDefault)), read(path(for: .broker(nodeId))))
    }

    func save(_ values: [String: String], for scope: BrokerConfigScope) throws {
        mkdir(folder, 0o755)
        let text = values.sorted { $0.key < $1.key }.map { escape($0.key) + "=" + escape($0.value) + "\n" }.joined()
        try writeFileAtomically(path: path(for: scope), bytes: Array(text.utf8), sync: true)
    }

    private func path(for scope: BrokerConfigScope) -> String {
        switch scope {
        case .clusterDefault: folder + "/broker-default.properties"
        case .broker(let id): folder + "/broker-\(id).properties"
        }
    }

    private func read(_ path: String) -> [String: String] {
        guard let text = readText(path) else { return [:] }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[unescape(line[..<equals])] = unescape(line[line.index(after: equals)...])
        }
        return values
    }

    /// Backslash escapes for the characters that would break a line or a key.
    private func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "=": out += "\\e"
            default: out.append(character)
            }
        }
        return out
    }

    private func unescape(_ text: Substring) -> String {
        var out = ""
        var escaped = false
        for character in text {
            if escaped {
                switch character {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "e": out.append("=")
                default: out.append(character)
                }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                out.append(character)
            }
        }
        return out
    }
}
