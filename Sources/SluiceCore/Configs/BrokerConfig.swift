import KafkaProtocol
import SluiceStorage

/// One broker setting: its Kafka name, type and default (as Kafka prints them), what it means,
/// and whether AlterConfigs may change it while the broker runs.
public struct BrokerSetting: Sendable {
    public let key: ConfigKey
    public let help: String
    /// Kafka lists it in DynamicBrokerConfig and Sluice applies a change at once.
    public let dynamic: Bool

    public var name: String { key.name }
    public var defaultValue: String? { key.defaultValue }
}

/// Why a configuration could not be accepted.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The broker's settings, by Kafka's names, in Kafka's layers: defaults; static values given at
/// start (a properties file, SLUICE_* environment variables such as SLUICE_NUM_PARTITIONS=3,
/// `--set key=value`, later sources winning); then the dynamic cluster default and the dynamic
/// values of this broker, set by AlterConfigs and kept in the data directory. A value set at a
/// higher layer replaces the setting and its synonyms below it (a dynamic log.retention.ms
/// hides a static log.retention.hours), as Kafka's DynamicBrokerConfig merges them.
public struct BrokerConfig: Sendable {
    public static var settings: [BrokerSetting] { BrokerSettings.all }

    /// Values given at start, as given: what DescribeConfigs reports as STATIC_BROKER_CONFIG.
    public private(set) var staticValues: [String: String] = [:]
    /// AlterConfigs on the resource "" (every broker).
    public private(set) var dynamicDefaults: [String: String] = [:]
    /// AlterConfigs on this broker's id.
    public private(set) var dynamicValues: [String: String] = [:]
    /// What is in force: the layers merged, over the defaults (settings without a default and
    /// without a value are absent).
    public private(set) var values: [String: String]

    public init() {
        values = BrokerSettings.defaults
    }

    /// Applies `key=value` pairs given at start, checking names and values. A value Sluice
    /// cannot honour is refused here rather than ignored.
    public mutating func apply(_ pairs: [(String, String)]) throws {
        for (key, value) in pairs {
            guard let setting = BrokerSettings.named(key) else {
                throw ConfigError("unknown setting '\(key)' (sluice serve --help lists them)")
            }
            if let reason = setting.key.validationError(value) ?? Self.valueError(key, value) {
                throw ConfigError("\(key)=\(value): \(reason)")
            }
            staticValues[key] = value
        }
        values = Self.merge(staticValues, dynamicDefaults, dynamicValues)
    }

    /// The same static settings under other dynamic layers.
    public func withDynamic(defaults: [String: String], values broker: [String: String]) -> BrokerConfig {
        var copy = self
        copy.dynamicDefaults = defaults
        copy.dynamicValues = broker
        copy.values = Self.merge(staticValues, defaults, broker)
        return copy
    }

    /// Kafka's updateCurrentConfig: static, then the dynamic default, then this broker's
    /// values; each value first removes its setting's synonyms from the layers below.
    static func merge(_ layers: [String: String]...) -> [String: String] {
        var merged: [String: String] = [:]
        for layer in layers {
            for (key, value) in layer.sorted(by: { $0.key < $1.key }) {
                for synonym in BrokerSettings.synonyms(of: key) { merged.removeValue(forKey: synonym) }
                merged[key] = BrokerSettings.named(key)?.key.normalized(value) ?? value
            }
        }
        // Defaults stay underneath: a default is always its group's last synonym (log.retention.hours
        // under log.retention.ms), which the topic configs read only when nothing above is set.
        return BrokerSettings.defaults.merging(merged) { _, new in new }
    }

    /// Settings whose values Sluice checks beyond their type, or cannot honour.
    static func valueError(_ key: String, _ value: String) -> String? {
        switch key {
        case "log.io.backend":
            return ["automatic", "io_uring", "pwrite"].contains(value) ? nil : "must be automatic, io_uring or pwrite"
        case "listeners", "advertised.listeners":
            if value.isEmpty && key == "advertised.listeners" { return nil }
            do {
                let endpoints = try ListenerEndpoint.parseList(value, setting: key)
                return endpoints.isEmpty ? "expected HOST:PORT or NAME://HOST:PORT" : nil
            } catch {
                return "\(error)"
            }
        case "controller.quorum.voters":
            do {
                _ = try QuorumVoter.parseList(value)
                return nil
            } catch {
                return "\(error)"
            }
        case "remote.log.storage.system.enable":
            return value.lowercased() == "false" ? nil : "tiered storage is not supported by Sluice"
        default:
            return nil
        }
    }

    /// The value in force, or nil where the setting has neither a value nor a default.
    public func value(_ name: String) -> String? { values[name] }

    public func string(_ name: String) -> String { values[name] ?? "" }
    public func int(_ name: String) -> Int { Int(values[name] ?? "") ?? 0 }
    public func long(_ name: String) -> Int64 { Int64(values[name] ?? "") ?? 0 }
    public func bool(_ name: String) -> Bool { values[name]?.lowercased() == "true" }

    /// Parses a properties file: `key=value` lines, `#` and `!` comments, and Java's continuation
    /// lines (a line ending in `\` goes on in the next, whose leading blanks are dropped), which
    /// JAAS settings use.
    public static func parseProperties(_ text: String) throws -> [(String, String)] {
        var pairs: [(String, String)] = []
        var logical: [(number: Int, text: String)] = []
        var pending: (number: Int, text: String)?
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var piece = raw.trimmingWhitespace()
            if pending == nil && (piece.hasPrefix("#") || piece.hasPrefix("!")) { continue }
            let trailingBackslashes = piece.reversed().prefix { $0 == "\\" }.count
            let continues = trailingBackslashes % 2 == 1
            if continues { piece.removeLast() }
            if var open = pending {
                open.text += piece
                pending = open
            } else {
                pending = (number, piece)
            }
            if !continues, let done = pending {
                logical.append(done)
                pending = nil
            }
        }
        if let pending { logical.append(pending) }
        for (number, line) in logical {
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            guard let equals = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw ConfigError("line \(number + 1): expected key=value, got '\(line)'")
            }
            pairs.append((String(line[..<equals]).trimmingWhitespace(), String(line[line.index(after: equals)...]).trimmingWhitespace()))
        }
        return pairs
    }

    /// SLUICE_NUM_PARTITIONS=3 → ("num.partitions", "3"), for settings that exist.
    public static func environmentPairs(_ environment: [String: String]) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for setting in settings {
            let variable = "SLUICE_" + setting.name.uppercased().map { $0 == "." ? "_" : $0 }.map(String.init).joined()
            if let value = environment[variable] { pairs.append((setting.name, value)) }
        }
        return pairs
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\r" || first == "\n" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" || last == "\n" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
