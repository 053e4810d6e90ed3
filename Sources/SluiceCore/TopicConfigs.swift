import KafkaProtocol
import SluiceStorage

/// The per-topic configs Sluice implements, each with the broker setting it defaults to (its
/// synonym, as DescribeConfigs reports it).
public struct TopicConfigDefinition: Sendable {
    public let name: String
    public let brokerSynonym: String?
    public let validate: @Sendable (String) -> String?
    public let fallback: String
}

public enum TopicConfigs {
    static func long(_ minimum: Int64) -> @Sendable (String) -> String? {
        { value in
            guard let number = Int64(value) else { return "must be a number" }
            return number < minimum ? "must be at least \(minimum)" : nil
        }
    }

    public static let definitions: [TopicConfigDefinition] = [
        .init(name: "cleanup.policy", brokerSynonym: nil, validate: { $0 == "delete" ? nil : "only 'delete' is supported" }, fallback: "delete"),
        .init(name: "compression.type", brokerSynonym: "compression.type", validate: {
            ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].contains($0) ? nil : "must be producer, uncompressed, gzip, snappy, lz4 or zstd"
        }, fallback: "producer"),
        .init(name: "max.message.bytes", brokerSynonym: "message.max.bytes", validate: long(0), fallback: "1048588"),
        .init(name: "message.timestamp.type", brokerSynonym: "log.message.timestamp.type", validate: {
            $0 == "CreateTime" || $0 == "LogAppendTime" ? nil : "must be CreateTime or LogAppendTime"
        }, fallback: "CreateTime"),
        .init(name: "retention.ms", brokerSynonym: "log.retention.ms", validate: long(-1), fallback: "604800000"),
        .init(name: "retention.bytes", brokerSynonym: "log.retention.bytes", validate: long(-1), fallback: "-1"),
        .init(name: "segment.bytes", brokerSynonym: "log.segment.bytes", validate: long(14), fallback: "1073741824"),
        .init(name: "segment.ms", brokerSynonym: "log.roll.ms", validate: long(1), fallback: "604800000"),
        .init(name: "flush.messages", brokerSynonym: "log.flush.interval.messages", validate: long(1), fallback: "1"),
        .init(name: "flush.ms", brokerSynonym: "log.flush.interval.ms", validate: long(0), fallback: "9223372036854775807"),
        .init(name: "index.interval.bytes", brokerSynonym: "log.index.interval.bytes", validate: long(0), fallback: "4096"),
        .init(name: "min.insync.replicas", brokerSynonym: nil, validate: long(1), fallback: "1"),
    ]

    public static func definition(_ name: String) -> TopicConfigDefinition? {
        definitions.first { $0.name == name }
    }

    /// Why `value` is not acceptable for config `name`, or nil.
    public static func validationError(name: String, value: String?) -> String? {
        guard let definition = definition(name) else { return "Unknown topic config name: \(name)" }
        guard let value else { return nil }
        return definition.validate(value).map { "Invalid value \(value) for configuration \(name): \($0)" }
    }

    /// The value in force: the topic's override, else the broker's synonym, else the default.
    public static func effectiveValue(_ name: String, overrides: [String: String], broker: BrokerConfig) -> (value: String, source: Source) {
        if let value = overrides[name] { return (value, .topic) }
        let definition = definition(name)
        if let synonym = definition?.brokerSynonym, let value = broker.values[synonym] {
            let isDefault = BrokerConfig.settings.first { $0.name == synonym }?.defaultValue == value
            return (value, isDefault ? .defaultConfig : .staticBroker)
        }
        return (definition?.fallback ?? "", .defaultConfig)
    }

    /// Kafka's ConfigSource numbers (DescribeConfigs v1+).
    public enum Source: Int8, Sendable {
        case topic = 1
        case staticBroker = 4
        case defaultConfig = 5
    }

    /// The log settings a topic's partitions run with.
    public static func logConfig(overrides: [String: String], broker: BrokerConfig) -> LogConfig {
        func value(_ name: String) -> Int64 { Int64(effectiveValue(name, overrides: overrides, broker: broker).value) ?? 0 }
        var config = LogConfig()
        config.segmentBytes = value("segment.bytes")
        config.segmentMs = value("segment.ms")
        config.retentionMs = value("retention.ms")
        config.retentionBytes = value("retention.bytes")
        config.flushMessages = value("flush.messages")
        config.flushMs = value("flush.ms")
        config.indexIntervalBytes = Int(value("index.interval.bytes"))
        config.timestampType = effectiveValue("message.timestamp.type", overrides: overrides, broker: broker).value == "LogAppendTime"
            ? .logAppendTime : .createTime
        return config
    }
}
