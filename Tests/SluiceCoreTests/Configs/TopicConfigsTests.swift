import SluiceStorage
import Testing

@testable import SluiceCore

/// Kafka's topic configs: every name accepted, values checked by Kafka's rules with Kafka's
/// messages, defaults from the broker's synonyms, and the values Sluice cannot honour refused.
@Suite("Topic configs")
struct TopicConfigsTests {
    let broker = BrokerConfig()

    @Test func everyKafkaTopicConfigIsKnownWithKafkasDefault() {
        // Kafka 3.9's LogConfig, with the value DescribeConfigs shows on a default broker.
        let expected: [String: String] = [
            "segment.bytes": "1073741824", "segment.ms": "604800000", "segment.jitter.ms": "0", "segment.index.bytes": "10485760",
            "flush.messages": "1", "flush.ms": "9223372036854775807", "retention.bytes": "-1", "retention.ms": "604800000",
            "max.message.bytes": "1048588", "index.interval.bytes": "4096", "delete.retention.ms": "86400000",
            "min.compaction.lag.ms": "0", "max.compaction.lag.ms": "9223372036854775807", "file.delete.delay.ms": "60000",
            "min.cleanable.dirty.ratio": "0.5", "cleanup.policy": "delete", "unclean.leader.election.enable": "false",
            "min.insync.replicas": "1", "compression.type": "producer", "compression.gzip.level": "-1", "compression.lz4.level": "9",
            "compression.zstd.level": "3", "preallocate": "false", "message.format.version": "3.0-IV1",
            "message.timestamp.type": "CreateTime", "message.timestamp.difference.max.ms": "9223372036854775807",
            "message.timestamp.before.max.ms": "9223372036854775807", "message.timestamp.after.max.ms": "9223372036854775807",
            "leader.replication.throttled.replicas": "", "follower.replication.throttled.replicas": "",
            "message.downconversion.enable": "true", "remote.storage.enable": "false", "local.retention.ms": "-2",
            "local.retention.bytes": "-2", "remote.log.copy.disable": "false", "remote.log.delete.on.disable": "false",
        ]
        #expect(Set(TopicConfigs.definitions.map(\.name)) == Set(expected.keys))
        for (name, value) in expected {
            // flush.messages is Sluice's durable default (1) through log.flush.interval.messages.
            #expect(TopicConfigs.effectiveValue(name, overrides: [:], broker: broker) == value, "\(name)")
        }
    }

    @Test func valuesAreCheckedWithKafkasMessages() {
        func error(_ name: String, _ value: String) -> String? { TopicConfigs.validationError([name: value], broker: broker) }
        #expect(error("made.up", "1") == "Unknown topic config name: made.up")
        #expect(error("retention.ms", "soon") == "Invalid value soon for configuration retention.ms: Not a number of type LONG")
        #expect(error("retention.ms", "-5") == "Invalid value -5 for configuration retention.ms: Value must be at least -1")
        #expect(error("segment.bytes", "10") == "Invalid value 10 for configuration segment.bytes: Value must be at least 14")
        #expect(error("segment.bytes", "3000000000") == "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT")
        #expect(error("min.cleanable.dirty.ratio", "2") == "Invalid value 2 for configuration min.cleanable.dirty.ratio: Value must be no more than 1")
        #expect(error("min.cleanable.dirty.ratio", "0.25") == nil)
        #expect(error("preallocate", "yes") == "Invalid value yes for configuration preallocate: Expected value to be either true or false")
        #expect(error("preallocate", "TRUE") == nil)
        #expect(error("compression.type", "brotli")
            == "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
        #expect(error("cleanup.policy", "delete,shred")
            == "Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete")
        #expect(error("compression.gzip.level", "10")
            == "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1")
        #expect(error("compression.gzip.level", "-1") == nil)
        #expect(error("compression.zstd.level", "23") == "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22")
        #expect(error("message.format.version", "9.9") == "Invalid value 9.9 for configuration message.format.version: Version 9.9 is not a valid version")
        for accepted in ["0.10.2", "0.8.0", "2.8", "3.0-IV1", "3.9-IV0", "2.8.1"] { #expect(error("message.format.version", accepted) == nil, "\(accepted)") }
        #expect(error("leader.replication.throttled.replicas", "0:1,1:2") == nil)
        #expect(error("leader.replication.throttled.replicas", "*") == nil)
        #expect(error("leader.replication.throttled.replicas", "x")?.hasPrefix(
            "Invalid value [x] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*'") == true)
        #expect(TopicConfigs.validationError(["min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"], broker: broker)
            == "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)")
        #expect(error("remote.storage.enable", "true")
            == "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")
        #expect(error("cleanup.policy", "compact") == nil)
        #expect(error("cleanup.policy", "compact,delete") == nil)
        #expect(error("cleanup.policy", "shred") != nil)
        let compacted = TopicConfigs.resolve(overrides: ["cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                                                         "delete.retention.ms": "500", "min.compaction.lag.ms": "7"], broker: broker).log
        #expect(compacted.compactionEnabled && !compacted.retentionEnabled)
        #expect(compacted.minCleanableDirtyRatio == 0.1 && compacted.deleteRetentionMs == 500 && compacted.minCompactionLagMs == 7)
        #expect(error("cleanup.policy", "") == nil, "an empty policy keeps everything, as in Kafka 3.x")
        #expect(error("delete.retention.ms", "1000") == nil)
    }

    @Test func appendAndSubtractWorkOnListConfigsOnly() throws {
        let appended = try TopicConfigs.applying([("cleanup.policy", .append, "delete")], to: [:]).get()
        #expect(appended == ["cleanup.policy": "delete"], "APPEND starts from the topic default and skips duplicates")
        let subtracted = try TopicConfigs.applying([("cleanup.policy", .subtract, "delete")], to: [:]).get()
        #expect(subtracted == ["cleanup.policy": ""], "SUBTRACT of the default leaves the empty list")
        let throttled = try TopicConfigs.applying([("leader.replication.throttled.replicas", .append, "0:1,1:1,0:1")], to: [:]).get()
        #expect(throttled == ["leader.replication.throttled.replicas": "0:1,1:1"])
        guard case .failure(let error) = TopicConfigs.applying([("retention.ms", .append, "5")], to: [:]) else {
            Issue.record("APPEND on a LONG config must fail")
            return
        }
        #expect(error.code == .invalidConfig)
        #expect(error.message == "Can't APPEND to key retention.ms because its type is not LIST.")
    }

    @Test func resolvedSettingsDriveTheLogAndTheProducePath() throws {
        var config = BrokerConfig()
        try config.apply([("log.message.timestamp.difference.max.ms", "5000"), ("compression.type", "lz4")])
        let resolved = TopicConfigs.resolve(overrides: ["cleanup.policy": "", "segment.jitter.ms": "100",
                                                        "compression.lz4.level": "12", "min.insync.replicas": "2"], broker: config)
        #expect(!resolved.log.retentionEnabled && !resolved.deleteEnabled)
        #expect(resolved.log.segmentJitterMs == 100)
        #expect(resolved.requiredCompression == .lz4 && resolved.compressionLevel == 12)
        #expect(resolved.minInsyncReplicas == 2)
        // The deprecated difference bound fills in before and after (Kafka derives them on the broker).
        #expect(resolved.timestampBeforeMaxMs == 5000 && resolved.timestampAfterMaxMs == 5000)
        let defaults = TopicConfigs.resolve(overrides: [:], broker: BrokerConfig())
        #expect(defaults.log.retentionEnabled && defaults.compressionLevel == nil && defaults.requiredCompression == nil)
        #expect(defaults.timestampBeforeMaxMs == Int64.max)
    }
}
