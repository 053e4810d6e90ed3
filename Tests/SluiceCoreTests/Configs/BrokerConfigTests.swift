import Testing

@testable import SluiceCore

/// Broker settings: sources at start, Kafka's layers and synonyms, and dynamic changes as
/// Kafka's brokers check them (DynamicBrokerConfig, ConfigAdminManager).
@Suite("Broker config")
struct BrokerConfigTests {
    @Test func settingsComeFromFilesEnvironmentAndOverrides() throws {
        var config = BrokerConfig()
        #expect(config.int("num.partitions") == 1)
        #expect(config.long("log.flush.interval.messages") == 1)
        #expect(config.value("log.retention.ms") == nil, "Kafka leaves log.retention.ms unset; log.retention.hours=168 applies")
        try config.apply(BrokerConfig.parseProperties("# comment\nnum.partitions = 3\nauto.create.topics.enable=false\n"))
        try config.apply(BrokerConfig.environmentPairs(["SLUICE_MESSAGE_MAX_BYTES": "2048", "UNRELATED": "x"]))
        #expect(config.int("num.partitions") == 3)
        #expect(!config.bool("auto.create.topics.enable"))
        #expect(config.int("message.max.bytes") == 2048)
        #expect(config.staticValues["num.partitions"] == "3")
        #expect(throws: ConfigError.self) { try config.apply([("no.such.setting", "1")]) }
        #expect(throws: ConfigError.self) { try config.apply([("num.partitions", "many")]) }
        #expect(throws: ConfigError.self) { try config.apply([("log.cleanup.policy", "shred")]) }
        try config.apply([("log.cleanup.policy", "compact,delete")])
        #expect(config.string("log.cleanup.policy") == "compact,delete")
        #expect(throws: ConfigError.self) { try config.apply([("remote.log.storage.system.enable", "true")]) }
    }

    @Test func aHigherLayerReplacesASettingAndItsSynonyms() throws {
        var config = BrokerConfig()
        try config.apply([("log.retention.hours", "24"), ("log.roll.hours", "2")])
        #expect(TopicConfigs.effectiveValue("retention.ms", overrides: [:], broker: config) == "86400000")
        #expect(TopicConfigs.effectiveValue("segment.ms", overrides: [:], broker: config) == "7200000")
        // A dynamic log.retention.ms hides the static log.retention.hours (Kafka's overrideProps).
        let dynamic = config.withDynamic(defaults: ["log.retention.ms": "5000"], values: [:])
        #expect(dynamic.value("log.retention.ms") == "5000")
        #expect(TopicConfigs.effectiveValue("retention.ms", overrides: [:], broker: dynamic) == "5000")
        // This broker's value beats the cluster default.
        let own = dynamic.withDynamic(defaults: ["log.retention.ms": "5000"], values: ["log.retention.ms": "7000"])
        #expect(TopicConfigs.effectiveValue("retention.ms", overrides: [:], broker: own) == "7000")
        // Minutes sit between ms and hours; a negative retention means keep forever.
        var minutes = BrokerConfig()
        try minutes.apply([("log.retention.minutes", "10")])
        #expect(TopicConfigs.effectiveValue("retention.ms", overrides: [:], broker: minutes) == "600000")
        try minutes.apply([("log.retention.ms", "-5")])
        #expect(TopicConfigs.effectiveValue("retention.ms", overrides: [:], broker: minutes) == "-1")
    }

    @Test func dynamicChangesAreCheckedAsKafkasBrokersCheckThem() {
        #expect(DynamicBrokerConfigs.validationError(["log.retention.ms": "60000", "message.max.bytes": "2000000"]) == nil)
        let fixed = DynamicBrokerConfigs.validationError(["num.partitions": "3", "log.dirs": "/x", "log.retention.ms": "1"])
        #expect(fixed?.code == .invalidRequest)
        #expect(fixed?.message == "Cannot update these configs dynamically: Set(log.dirs, num.partitions)")
        // Only the first synonym of a log setting is dynamic.
        #expect(DynamicBrokerConfigs.validationError(["log.retention.hours": "1"])?.message
            == "Cannot update these configs dynamically: Set(log.retention.hours)")
        let typed = DynamicBrokerConfigs.validationError(["log.retention.ms": "soon"])
        #expect(typed?.code == .invalidRequest)
        #expect(typed?.message == "Invalid value soon for configuration log.retention.ms: Not a number of type LONG")
        #expect(DynamicBrokerConfigs.validationError(["log.cleanup.policy": "compact"]) == nil)
        #expect(DynamicBrokerConfigs.validationError(["log.cleaner.dedupe.buffer.size": "1"])?.code != nil, "a static setting")
        // Names Kafka does not know are custom settings, stored as given.
        #expect(DynamicBrokerConfigs.validationError(["my.plugin.setting": "x"]) == nil)
    }

    @Test func brokerResourcesNameTheClusterDefaultOrThisBroker() throws {
        #expect(try DynamicBrokerConfigs.alterScope("", nodeId: 1).get() == .clusterDefault)
        #expect(try DynamicBrokerConfigs.alterScope("1", nodeId: 1).get() == .broker(1))
        guard case .failure(let other) = DynamicBrokerConfigs.alterScope("2", nodeId: 1),
              case .failure(let word) = DynamicBrokerConfigs.alterScope("abc", nodeId: 1),
              case .failure(let described) = DynamicBrokerConfigs.describeScope("2", nodeId: 1) else {
            Issue.record("other brokers and non-numbers must be refused")
            return
        }
        #expect(other.message == "Unexpected broker id, expected 1, but received 2")
        #expect(word.message == "Node id must be an integer, but it is: abc")
        #expect(described.message == "Unexpected broker id, expected 1 or empty string, but received 2")
        #expect([other.code, word.code, described.code] == [.invalidRequest, .invalidRequest, .invalidRequest])
    }

    @Test func incrementalOperationsOnBrokerSettings() throws {
        let appended = try DynamicBrokerConfigs.applying([("log.cleanup.policy", .append, "delete")], to: [:]).get()
        #expect(appended == ["log.cleanup.policy": "delete"], "APPEND starts from the default and skips what is there")
        let emptied = try DynamicBrokerConfigs.applying([("log.cleanup.policy", .subtract, "delete")], to: [:]).get()
        #expect(emptied == ["log.cleanup.policy": ""])
        guard case .failure(let error) = DynamicBrokerConfigs.applying([("log.retention.ms", .append, "1")], to: [:]) else {
            Issue.record("APPEND on a non-list setting must fail")
            return
        }
        #expect(error.code == .invalidConfig)
        #expect(error.message == "Config value append is not allowed for config key: log.retention.ms")
    }
}
