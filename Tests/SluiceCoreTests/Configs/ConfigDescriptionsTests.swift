import Testing

@testable import SluiceCore

/// DescribeConfigs entries, checked against the examples Kafka's ConfigHelper gives.
@Suite("Config descriptions")
struct ConfigDescriptionsTests {
    func topicEntry(_ name: String, overrides: [String: String] = [:], broker: BrokerConfig) throws -> ConfigDescription {
        try #require(ConfigDescriptions.topic(overrides: overrides, broker: broker, keys: [name]).first)
    }

    @Test func topicSourcesAndSynonymsFollowKafka() throws {
        let plain = BrokerConfig()
        // Nothing set: the first synonym (log.roll.ms) has no default, so the default
        // log.roll.hours is dropped too and the entry is DEFAULT_CONFIG without synonyms.
        let segment = try topicEntry("segment.ms", broker: plain)
        #expect(segment.value == "604800000" && segment.source == .defaultConfig && segment.synonyms.isEmpty)
        let bytes = try topicEntry("segment.bytes", broker: plain)
        #expect(bytes.synonyms == [.init(name: "log.segment.bytes", value: "1073741824", source: .defaultConfig)])

        var hours = BrokerConfig()
        try hours.apply([("log.retention.hours", "24")])
        let byHours = try topicEntry("retention.ms", broker: hours)
        #expect(byHours.value == "86400000" && byHours.source == .defaultConfig && byHours.synonyms.isEmpty,
                "Kafka reports DEFAULT_CONFIG here although log.retention.hours drives the value")

        var millis = BrokerConfig()
        try millis.apply([("log.retention.ms", "5000")])
        let byMillis = try topicEntry("retention.ms", broker: millis)
        #expect(byMillis.source == .staticBroker)
        #expect(byMillis.synonyms == [.init(name: "log.retention.ms", value: "5000", source: .staticBroker),
                                      .init(name: "log.retention.hours", value: "168", source: .defaultConfig)])

        let layered = BrokerConfig().withDynamic(defaults: ["log.retention.ms": "7000"], values: [:])
        let overridden = try topicEntry("retention.ms", overrides: ["retention.ms": "1000"], broker: layered)
        #expect(overridden.value == "1000" && overridden.source == .topic)
        #expect(overridden.synonyms.map(\.source) == [.topic, .dynamicDefaultBroker, .defaultConfig])
        let inherited = try topicEntry("retention.ms", broker: layered)
        #expect(inherited.value == "7000" && inherited.source == .dynamicDefaultBroker)

        let remote = try topicEntry("remote.storage.enable", broker: plain)
        #expect(remote.source == .defaultConfig && remote.synonyms.isEmpty && !remote.readOnly && remote.type == .boolean)
    }

    @Test func brokerEntriesShowLayersAndWhatIsDynamic() throws {
        var config = BrokerConfig()
        try config.apply([("num.partitions", "3")])
        config = config.withDynamic(defaults: ["message.max.bytes": "2000000", "custom.thing": "x"], values: ["message.max.bytes": "3000000"])
        let all = ConfigDescriptions.broker(config, keys: nil)
        let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
        let partitions = try #require(byName["num.partitions"])
        #expect(partitions.value == "3" && partitions.source == .staticBroker && partitions.readOnly)
        let maxBytes = try #require(byName["message.max.bytes"])
        #expect(maxBytes.value == "3000000" && maxBytes.source == .dynamicBroker && !maxBytes.readOnly)
        #expect(maxBytes.synonyms.map(\.source) == [.dynamicBroker, .dynamicDefaultBroker, .defaultConfig])
        let retention = try #require(byName["log.retention.ms"])
        #expect(retention.value == nil && retention.source == .defaultConfig && retention.synonyms.isEmpty)
        let custom = try #require(byName["custom.thing"])
        #expect(custom.isSensitive && custom.value == nil && custom.readOnly && custom.type == .unknown)

        let defaults = ConfigDescriptions.brokerDefaults(config, keys: nil)
        #expect(defaults.map(\.name) == ["custom.thing", "message.max.bytes"])
        #expect(defaults.last?.value == "2000000" && defaults.last?.source == .dynamicDefaultBroker)
        #expect(defaults.last?.synonyms.map(\.source) == [.dynamicDefaultBroker])
    }

    @Test func createdTopicsReportWhereEachValueComesFrom() throws {
        var config = BrokerConfig()
        try config.apply([("log.retention.hours", "24")])
        config = config.withDynamic(defaults: ["message.max.bytes": "2000000"], values: [:])
        let entries = ConfigDescriptions.createdTopic(overrides: ["segment.bytes": "1048576"], broker: config)
        #expect(entries.map(\.name) == entries.map(\.name).sorted())
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
        #expect(byName["segment.bytes"]?.source == .topic)
        #expect(byName["max.message.bytes"]?.source == .dynamicDefaultBroker && byName["max.message.bytes"]?.value == "2000000")
        #expect(byName["retention.ms"]?.source == .staticBroker && byName["retention.ms"]?.value == "86400000")
        #expect(byName["flush.ms"]?.source == .defaultConfig)
    }
}
