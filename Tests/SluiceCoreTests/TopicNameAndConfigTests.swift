import SluiceCore
import Testing

@Suite("Topic names and configs")
struct TopicNameAndConfigTests {
    @Test func topicNamesFollowKafkasRules() {
        #expect(TopicName.validationError("orders.v1_x-2") == nil)
        #expect(TopicName.validationError("") != nil)
        #expect(TopicName.validationError(".") != nil)
        #expect(TopicName.validationError("..") != nil)
        #expect(TopicName.validationError("has space") != nil)
        #expect(TopicName.validationError("ümlaut") != nil)
        #expect(TopicName.validationError(String(repeating: "a", count: 249)) == nil)
        #expect(TopicName.validationError(String(repeating: "a", count: 250)) != nil)
        #expect(TopicName.collisionKey("a.b") == TopicName.collisionKey("a_b"))
    }

    @Test func settingsComeFromFilesEnvironmentAndOverrides() throws {
        var config = BrokerConfig()
        #expect(config.int("num.partitions") == 1)
        #expect(config.long("log.flush.interval.messages") == 1)
        try config.apply(BrokerConfig.parseProperties("# comment\nnum.partitions = 3\nauto.create.topics.enable=false\n"))
        try config.apply(BrokerConfig.environmentPairs(["SLUICE_MESSAGE_MAX_BYTES": "2048", "UNRELATED": "x"]))
        #expect(config.int("num.partitions") == 3)
        #expect(!config.bool("auto.create.topics.enable"))
        #expect(config.int("message.max.bytes") == 2048)
        #expect(throws: ConfigError.self) { try config.apply([("no.such.setting", "1")]) }
        #expect(throws: ConfigError.self) { try config.apply([("num.partitions", "many")]) }
    }

    @Test func topicConfigsFallBackToTheBrokersSynonym() throws {
        var broker = BrokerConfig()
        try broker.apply([("log.retention.ms", "1000")])
        let (retention, source) = TopicConfigs.effectiveValue("retention.ms", overrides: [:], broker: broker)
        #expect(retention == "1000" && source == .staticBroker)
        let (segment, segmentSource) = TopicConfigs.effectiveValue("segment.bytes", overrides: ["segment.bytes": "4096"], broker: broker)
        #expect(segment == "4096" && segmentSource == .topic)
        let log = TopicConfigs.logConfig(overrides: ["message.timestamp.type": "LogAppendTime"], broker: broker)
        #expect(log.retentionMs == 1000)
        #expect(log.timestampType == .logAppendTime)
        #expect(log.flushMessages == 1)
        #expect(TopicConfigs.validationError(name: "retention.ms", value: "soon") != nil)
        #expect(TopicConfigs.validationError(name: "made.up", value: "1") != nil)
    }
}
