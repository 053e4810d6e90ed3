import KafkaProtocol
import SluiceStorage

/// One broker setting: its Kafka name (where Kafka has one), default, and meaning.
public struct BrokerSetting: Sendable {
    public enum Kind: String, Sendable { case int, long, bool, string }
    public let name: String
    public let defaultValue: String
    public let kind: Kind
    public let help: String
}

/// Why a configuration could not be accepted.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The broker's settings, by Kafka's names, from (lowest to highest precedence) defaults, a
/// properties file, SLUICE_* environment variables (SLUICE_NUM_PARTITIONS=3 sets
/// num.partitions) and `--set key=value`.
public struct BrokerConfig: Sendable {
    public static let settings: [BrokerSetting] = [
        .init(name: "listeners", defaultValue: "localhost:9092", kind: .string, help: "HOST:PORT to listen on (port 0 picks a free port)."),
        .init(name: "advertised.listeners", defaultValue: "", kind: .string, help: "HOST:PORT clients are told to connect to (default: the listener)."),
        .init(name: "metrics.listener", defaultValue: "", kind: .string, help: "HOST:PORT serving GET /metrics in Prometheus text format (empty: off; make run uses localhost:9644)."),
        .init(name: "log.dirs", defaultValue: "./data", kind: .string, help: "Data directory (created when missing, locked while the broker runs)."),
        .init(name: "node.id", defaultValue: "1", kind: .int, help: "This broker's node id."),
        .init(name: "num.partitions", defaultValue: "1", kind: .int, help: "Partitions of auto-created topics and of CreateTopics asking for -1."),
        .init(name: "default.replication.factor", defaultValue: "1", kind: .int, help: "Replication factor of auto-created topics."),
        .init(name: "auto.create.topics.enable", defaultValue: "true", kind: .bool, help: "Create a topic when a Metadata request names a missing one."),
        .init(name: "message.max.bytes", defaultValue: "1048588", kind: .int, help: "Largest record batch a producer may send (topic: max.message.bytes)."),
        .init(name: "socket.request.max.bytes", defaultValue: "104857600", kind: .int, help: "Largest request frame; a larger size prefix closes the connection before anything is read."),
        .init(name: "connections.max.idle.ms", defaultValue: "600000", kind: .long, help: "Close connections idle this long."),
        .init(name: "max.connections", defaultValue: "10000", kind: .int, help: "Connections accepted at once; more are closed at accept."),
        .init(name: "num.network.threads", defaultValue: "0", kind: .int, help: "Event loops (0: one per core). Each partition is owned by one of them."),
        .init(name: "log.segment.bytes", defaultValue: "1073741824", kind: .int, help: "Segment size before rolling (topic: segment.bytes)."),
        .init(name: "log.roll.ms", defaultValue: "604800000", kind: .long, help: "Segment age before rolling (topic: segment.ms)."),
        .init(name: "log.retention.ms", defaultValue: "604800000", kind: .long, help: "Delete segments older than this; -1 keeps forever (topic: retention.ms)."),
        .init(name: "log.retention.bytes", defaultValue: "-1", kind: .long, help: "Delete oldest segments beyond this size per partition; -1: no limit (topic: retention.bytes)."),
        .init(name: "log.retention.check.interval.ms", defaultValue: "300000", kind: .long, help: "How often retention and timed flushes run."),
        .init(name: "log.flush.interval.messages", defaultValue: "1", kind: .long, help: "1 (Sluice's default): acknowledge only after fdatasync. Kafka's default 9223372036854775807: acknowledge after the write, fsync in the background (topic: flush.messages)."),
        .init(name: "log.flush.interval.ms", defaultValue: "9223372036854775807", kind: .long, help: "Background fsync interval when not durable per append (topic: flush.ms)."),
        .init(name: "log.index.interval.bytes", defaultValue: "4096", kind: .int, help: "Bytes between offset-index entries (topic: index.interval.bytes)."),
        .init(name: "log.message.timestamp.type", defaultValue: "CreateTime", kind: .string, help: "CreateTime or LogAppendTime (topic: message.timestamp.type)."),
        .init(name: "compression.type", defaultValue: "producer", kind: .string, help: "producer (keep the producer's codec), uncompressed, gzip, snappy, lz4 or zstd."),
        .init(name: "log.io.backend", defaultValue: "automatic", kind: .string, help: "automatic (io_uring when available), io_uring or pwrite."),
        .init(name: "group.min.session.timeout.ms", defaultValue: "6000", kind: .int, help: "Shortest session timeout a group member may ask for."),
        .init(name: "group.max.session.timeout.ms", defaultValue: "1800000", kind: .int, help: "Longest session timeout a group member may ask for."),
        .init(name: "group.initial.rebalance.delay.ms", defaultValue: "3000", kind: .int, help: "How long the first rebalance of an empty group waits for more members."),
        .init(name: "group.max.size", defaultValue: "2147483647", kind: .int, help: "Most members a consumer group may have."),
        .init(name: "offsets.retention.minutes", defaultValue: "10080", kind: .int, help: "Committed offsets of an empty group expire this long after it emptied."),
        .init(name: "offsets.retention.check.interval.ms", defaultValue: "600000", kind: .long, help: "How often expired offsets are removed."),
        .init(name: "offset.metadata.max.bytes", defaultValue: "4096", kind: .int, help: "Longest metadata string an offset commit may carry."),
        .init(name: "offsets.topic.segment.bytes", defaultValue: "104857600", kind: .int, help: "Segment size of the group metadata log."),
        .init(name: "offsets.compaction.min.records", defaultValue: "100000", kind: .int, help: "Group-log records written before it is compacted (it is rewritten once it holds this many and twice the live records)."),
        .init(name: "cluster.id", defaultValue: "", kind: .string, help: "Cluster id; generated on first start and kept in the data directory."),
    ]

    public private(set) var values: [String: String]

    public init() {
        values = Dictionary(uniqueKeysWithValues: Self.settings.map { ($0.name, $0.defaultValue) })
    }

    /// Applies `key=value` pairs, checking names and types.
    public mutating func apply(_ pairs: [(String, String)]) throws {
        for (key, value) in pairs {
            guard let setting = Self.settings.first(where: { $0.name == key }) else {
                throw ConfigError("unknown setting '\(key)' (sluice serve --help lists them)")
            }
            switch setting.kind {
            case .int: guard Int32(value) != nil else { throw ConfigError("\(key) must be an int, got '\(value)'") }
            case .long: guard Int64(value) != nil else { throw ConfigError("\(key) must be a long, got '\(value)'") }
            case .bool: guard value == "true" || value == "false" else { throw ConfigError("\(key) must be true or false, got '\(value)'") }
            case .string: break
            }
            if let reason = Self.valueError(key, value) { throw ConfigError("\(key)=\(value): \(reason)") }
            values[key] = value
        }
    }

    /// Settings with a closed set of values, or that are a topic config's synonym, are checked
    /// as Kafka checks them at start.
    static func valueError(_ key: String, _ value: String) -> String? {
        switch key {
        case "log.io.backend":
            return ["automatic", "io_uring", "pwrite"].contains(value) ? nil : "must be automatic, io_uring or pwrite"
        case "listeners", "advertised.listeners":
            if value.isEmpty && key == "advertised.listeners" { return nil }
            guard let colon = value.lastIndex(of: ":"), Int(value[value.index(after: colon)...]).map({ (0...65535).contains($0) }) == true else {
                return "expected HOST:PORT"
            }
            return nil
        default:
            guard let topicConfig = TopicConfigs.definitions.first(where: { $0.brokerSynonym == key }) else { return nil }
            return topicConfig.validate(value)
        }
    }

    /// Parses a properties file: `key=value` lines, `#` and `!` comments.
    public static func parseProperties(_ text: String) throws -> [(String, String)] {
        var pairs: [(String, String)] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
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

    public func string(_ name: String) -> String { values[name] ?? "" }
    public func int(_ name: String) -> Int { Int(values[name] ?? "") ?? 0 }
    public func long(_ name: String) -> Int64 { Int64(values[name] ?? "") ?? 0 }
    public func bool(_ name: String) -> Bool { values[name] == "true" }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\r" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
