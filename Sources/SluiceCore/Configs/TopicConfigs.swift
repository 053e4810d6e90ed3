import KafkaProtocol
import SluiceStorage

/// A broker setting a topic config falls back to, and what it is multiplied by to be in the
/// topic config's unit (log.retention.hours → retention.ms: 3,600,000).
public struct BrokerSynonym: Sendable {
    public let name: String
    public let factor: Int64

    init(_ name: String, factor: Int64 = 1) {
        self.name = name
        self.factor = factor
    }
}

/// A topic config as Kafka 3.9 defines it: name, type, default, rule, the broker settings it
/// falls back to (ServerTopicConfigSynonyms), and a line of documentation.
public struct TopicConfigDefinition: Sendable {
    public let key: ConfigKey
    public let brokerSynonyms: [BrokerSynonym]
    public let documentation: String

    public var name: String { key.name }
}

/// Kafka's topic configs, every one of them: each is accepted, validated by Kafka's rules and
/// reported by DescribeConfigs. Most change what Sluice does (segments, retention, flushing,
/// limits, timestamps, compression, min.insync.replicas); the cleaner's, tiered storage's,
/// replication throttles and a few storage details are stored and reported with no effect yet,
/// which changes nothing a client sees. A value Sluice cannot honour (cleanup.policy=compact,
/// remote.storage.enable=true) is refused with INVALID_CONFIG rather than ignored.
public enum TopicConfigs {
    static let hour: Int64 = 3_600_000
    static let long = "9223372036854775807"

    /// In Kafka's LogConfig order, which is the order validation reports the first error in.
    public static let definitions: [TopicConfigDefinition] = [
        .init(key: ConfigKey("segment.bytes", .int, "1073741824", .atLeast(14)), brokerSynonyms: [.init("log.segment.bytes")],
              documentation: "Size at which the active segment is rolled."),
        .init(key: ConfigKey("segment.ms", .long, "604800000", .atLeast(1)),
              brokerSynonyms: [.init("log.roll.ms"), .init("log.roll.hours", factor: hour)],
              documentation: "Age at which the active segment is rolled, so that retention can remove it."),
        .init(key: ConfigKey("segment.jitter.ms", .long, "0", .atLeast(0)),
              brokerSynonyms: [.init("log.roll.jitter.ms"), .init("log.roll.jitter.hours", factor: hour)],
              documentation: "Most taken off segment.ms at random for each segment, so partitions do not all roll at once."),
        .init(key: ConfigKey("segment.index.bytes", .int, "10485760", .atLeast(4)), brokerSynonyms: [.init("log.index.size.max.bytes")],
              documentation: "Kafka's offset-index size; accepted, Sluice's indexes grow as needed."),
        .init(key: ConfigKey("flush.messages", .long, long, .atLeast(1)), brokerSynonyms: [.init("log.flush.interval.messages")],
              documentation: "1 acknowledges a write only after the fdatasync covering it; larger values fsync in the background."),
        .init(key: ConfigKey("flush.ms", .long, long, .atLeast(0)),
              brokerSynonyms: [.init("log.flush.interval.ms"), .init("log.flush.scheduler.interval.ms")],
              documentation: "Background fsync interval when writes are not durable on append."),
        .init(key: ConfigKey("retention.bytes", .long, "-1"), brokerSynonyms: [.init("log.retention.bytes")],
              documentation: "Oldest segments are deleted while a partition is larger than this; -1: no limit."),
        .init(key: ConfigKey("retention.ms", .long, "604800000", .atLeast(-1)),
              brokerSynonyms: [.init("log.retention.ms"), .init("log.retention.minutes", factor: 60_000), .init("log.retention.hours", factor: hour)],
              documentation: "Segments whose newest record is older than this are deleted; -1 keeps everything."),
        .init(key: ConfigKey("max.message.bytes", .int, "1048588", .atLeast(0)), brokerSynonyms: [.init("message.max.bytes")],
              documentation: "Largest record batch a producer may send."),
        .init(key: ConfigKey("index.interval.bytes", .int, "4096", .atLeast(0)), brokerSynonyms: [.init("log.index.interval.bytes")],
              documentation: "Bytes between entries of the sparse offset and time indexes."),
        .init(key: ConfigKey("delete.retention.ms", .long, "86400000", .atLeast(0)), brokerSynonyms: [.init("log.cleaner.delete.retention.ms")],
              documentation: "How long a compacted topic's tombstones stay readable once the cleaner has kept them."),
        .init(key: ConfigKey("min.compaction.lag.ms", .long, "0", .atLeast(0)), brokerSynonyms: [.init("log.cleaner.min.compaction.lag.ms")],
              documentation: "Records younger than this are not compacted."),
        .init(key: ConfigKey("max.compaction.lag.ms", .long, long, .atLeast(1)), brokerSynonyms: [.init("log.cleaner.max.compaction.lag.ms")],
              documentation: "A compacted log whose oldest uncleaned record waited this long is cleaned whatever its dirty ratio."),
        .init(key: ConfigKey("file.delete.delay.ms", .long, "60000", .atLeast(0)), brokerSynonyms: [.init("log.segment.delete.delay.ms")],
              documentation: "Accepted: Sluice unlinks a deleted segment at once and closes it after its last reader."),
        .init(key: ConfigKey("min.cleanable.dirty.ratio", .double, "0.5", .fraction(0, 1)), brokerSynonyms: [.init("log.cleaner.min.cleanable.ratio")],
              documentation: "Share of a compacted log that must be uncleaned before it is cleaned."),
        .init(key: ConfigKey("cleanup.policy", .list, "delete", .listOf(["compact", "delete"])), brokerSynonyms: [.init("log.cleanup.policy")],
              documentation: "delete: retention removes old segments; compact: the log cleaner keeps each key's latest record; both: both; an empty list keeps everything."),
        .init(key: ConfigKey("unclean.leader.election.enable", .boolean, "false"), brokerSynonyms: [.init("unclean.leader.election.enable")],
              documentation: "Let an out-of-sync replica become leader (no effect with one broker)."),
        .init(key: ConfigKey("min.insync.replicas", .int, "1", .atLeast(1)), brokerSynonyms: [.init("min.insync.replicas")],
              documentation: "acks=all produces fail with NOT_ENOUGH_REPLICAS while fewer replicas are in sync."),
        .init(key: ConfigKey("compression.type", .string, "producer", .oneOf(["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"])),
              brokerSynonyms: [.init("compression.type")],
              documentation: "producer keeps the producer's codec; a codec name makes the broker recompress into it."),
        .init(key: ConfigKey("compression.gzip.level", .int, "-1", .gzipLevel), brokerSynonyms: [.init("compression.gzip.level")],
              documentation: "gzip level when the broker recompresses into gzip."),
        .init(key: ConfigKey("compression.lz4.level", .int, "9", .between(1, 17)), brokerSynonyms: [.init("compression.lz4.level")],
              documentation: "lz4 level when the broker recompresses into lz4."),
        .init(key: ConfigKey("compression.zstd.level", .int, "3", .between(-131_072, 22)), brokerSynonyms: [.init("compression.zstd.level")],
              documentation: "zstd level when the broker recompresses into zstd."),
        .init(key: ConfigKey("preallocate", .boolean, "false"), brokerSynonyms: [.init("log.preallocate")],
              documentation: "Accepted: segments are not preallocated."),
        .init(key: ConfigKey("message.format.version", .string, "3.0-IV1", .metadataVersion), brokerSynonyms: [.init("log.message.format.version")],
              documentation: "Deprecated and ignored, as in Kafka 3.x: batches are always stored as v2."),
        .init(key: ConfigKey("message.timestamp.type", .string, "CreateTime", .oneOf(["CreateTime", "LogAppendTime"])),
              brokerSynonyms: [.init("log.message.timestamp.type")],
              documentation: "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's time."),
        .init(key: ConfigKey("message.timestamp.difference.max.ms", .long, long, .atLeast(0)),
              brokerSynonyms: [.init("log.message.timestamp.difference.max.ms")],
              documentation: "Deprecated: the before and after bounds where those are not set."),
        .init(key: ConfigKey("message.timestamp.before.max.ms", .long, long, .atLeast(0)),
              brokerSynonyms: [.init("log.message.timestamp.before.max.ms")],
              documentation: "CreateTime records older than this are refused with INVALID_TIMESTAMP."),
        .init(key: ConfigKey("message.timestamp.after.max.ms", .long, long, .atLeast(0)),
              brokerSynonyms: [.init("log.message.timestamp.after.max.ms")],
              documentation: "CreateTime records further ahead than this are refused with INVALID_TIMESTAMP."),
        .init(key: ConfigKey("leader.replication.throttled.replicas", .list, "", .throttledReplicas), brokerSynonyms: [],
              documentation: "Replicas whose replication the leader throttles (no effect with one broker)."),
        .init(key: ConfigKey("follower.replication.throttled.replicas", .list, "", .throttledReplicas), brokerSynonyms: [],
              documentation: "Replicas whose replication the follower throttles (no effect with one broker)."),
        .init(key: ConfigKey("message.downconversion.enable", .boolean, "true"), brokerSynonyms: [.init("log.message.downconversion.enable")],
              documentation: "Accepted: Sluice serves Fetch v4+ only, which needs no down-conversion."),
        .init(key: ConfigKey("remote.storage.enable", .boolean, "false"), brokerSynonyms: [],
              documentation: "Tiered storage; not supported, so only false is accepted."),
        .init(key: ConfigKey("local.retention.ms", .long, "-2", .atLeast(-2)), brokerSynonyms: [.init("log.local.retention.ms")],
              documentation: "Local retention under tiered storage (no effect without it)."),
        .init(key: ConfigKey("local.retention.bytes", .long, "-2", .atLeast(-2)), brokerSynonyms: [.init("log.local.retention.bytes")],
              documentation: "Local retention under tiered storage (no effect without it)."),
        .init(key: ConfigKey("remote.log.copy.disable", .boolean, "false"), brokerSynonyms: [],
              documentation: "Tiered storage: stop copying to remote storage (no effect without it)."),
        .init(key: ConfigKey("remote.log.delete.on.disable", .boolean, "false"), brokerSynonyms: [],
              documentation: "Tiered storage: delete remote data when it is turned off (no effect without it)."),
    ]

    private static let byName: [String: TopicConfigDefinition] = Dictionary(uniqueKeysWithValues: definitions.map { ($0.name, $0) })

    public static func definition(_ name: String) -> TopicConfigDefinition? { byName[name] }

    /// The broker setting each topic config defaults to first: what DescribeConfigs lists as
    /// its synonym and what Kafka lets AlterConfigs change on a broker.
    public static func primaryBrokerSynonym(of name: String) -> String? { byName[name]?.brokerSynonyms.first?.name }

    // MARK: Values in force

    /// The value in force: the topic's override, else what the broker's settings give it
    /// (Kafka's extractLogConfigMap), else the topic config's default.
    public static func effectiveValue(_ name: String, overrides: [String: String], broker: BrokerConfig) -> String {
        if let value = overrides[name] { return value }
        return brokerDefault(name, broker: broker) ?? byName[name]?.key.defaultValue ?? ""
    }

    /// What a topic without an override gets from the broker's settings.
    static func brokerDefault(_ name: String, broker: BrokerConfig) -> String? {
        switch name {
        case "message.format.version":
            // Kafka 3.x ignores it: every log is at least 3.0-IV1 (record batches v2).
            return "3.0-IV1"
        case "message.timestamp.before.max.ms", "message.timestamp.after.max.ms":
            // The deprecated difference bound applies where the new one is left at its maximum.
            let own = broker.value("log." + name) ?? long
            return own != long ? own : broker.value("log.message.timestamp.difference.max.ms")
        default:
            guard let synonyms = byName[name]?.brokerSynonyms else { return nil }
            // The first synonym with a value wins (log.retention.ms, then .minutes, then .hours).
            guard let synonym = synonyms.first(where: { broker.value($0.name) != nil }),
                  let raw = broker.value(synonym.name) else { return nil }
            guard let number = Int64(raw), synonym.factor != 1 || name == "retention.ms" else { return raw }
            let (scaled, overflow) = number.multipliedReportingOverflow(by: synonym.factor)
            let value = overflow ? Int64.max : scaled
            // Kafka turns any negative retention into -1 (keep forever).
            return name == "retention.ms" && value < 0 ? "-1" : String(value)
        }
    }

    /// The typed settings a topic's partitions and its produce path run with.
    public struct Resolved: Sendable, Equatable {
        public var log: LogConfig
        public var maxMessageBytes: Int
        /// The codec `compression.type` asks for, or nil for `producer` (keep the producer's).
        public var requiredCompression: CompressionCodec?
        /// The level to recompress with, nil for the codec's Kafka default.
        public var compressionLevel: Int32?
        public var minInsyncReplicas: Int
        /// CreateTime records outside [now - before, now + after] are refused (INVALID_TIMESTAMP).
        public var timestampBeforeMaxMs: Int64
        public var timestampAfterMaxMs: Int64
        /// cleanup.policy lists delete: retention runs and DeleteRecords is allowed.
        public var deleteEnabled: Bool
    }

    public static func resolve(overrides: [String: String], broker: BrokerConfig) -> Resolved {
        func text(_ name: String) -> String { effectiveValue(name, overrides: overrides, broker: broker) }
        func number(_ name: String) -> Int64 { Int64(text(name)) ?? Int64(byName[name]?.key.defaultValue ?? "") ?? 0 }
        var log = LogConfig()
        log.segmentBytes = number("segment.bytes")
        log.segmentMs = number("segment.ms")
        log.segmentJitterMs = number("segment.jitter.ms")
        log.retentionMs = number("retention.ms")
        log.retentionBytes = number("retention.bytes")
        log.flushMessages = number("flush.messages")
        log.flushMs = number("flush.ms")
        log.indexIntervalBytes = Int(number("index.interval.bytes"))
        log.timestampType = text("message.timestamp.type") == "LogAppendTime" ? .logAppendTime : .createTime
        let policy = ConfigKey.listElements(text("cleanup.policy"))
        log.retentionEnabled = policy.contains("delete")
        log.compactionEnabled = policy.contains("compact")
        log.minCleanableDirtyRatio = Double(text("min.cleanable.dirty.ratio")) ?? 0.5
        log.minCompactionLagMs = number("min.compaction.lag.ms")
        log.maxCompactionLagMs = number("max.compaction.lag.ms")
        log.deleteRetentionMs = number("delete.retention.ms")

        var required: CompressionCodec?
        var level: Int32?
        switch text("compression.type") {
        case "producer": required = nil
        case "uncompressed": required = CompressionCodec.none
        case let name:
            required = CompressionCodec(name: name)
            switch required {
            case .gzip:
                let gzip = number("compression.gzip.level")
                level = gzip == -1 ? nil : Int32(gzip)
            case .lz4:
                // Kafka keeps its fast compressor at the default 9 and uses lz4-HC otherwise.
                let lz4 = number("compression.lz4.level")
                level = lz4 == 9 ? nil : Int32(lz4)
            case .zstd:
                level = Int32(number("compression.zstd.level"))
            default:
                level = nil
            }
        }
        let difference = number("message.timestamp.difference.max.ms")
        let before = number("message.timestamp.before.max.ms")
        let after = number("message.timestamp.after.max.ms")
        return Resolved(
            log: log, maxMessageBytes: Int(number("max.message.bytes")), requiredCompression: required, compressionLevel: level,
            minInsyncReplicas: Int(number("min.insync.replicas")),
            timestampBeforeMaxMs: before == Int64.max ? difference : before,
            timestampAfterMaxMs: after == Int64.max ? difference : after,
            deleteEnabled: log.retentionEnabled)
    }

    /// The log settings a topic's partitions run with.
    public static func logConfig(overrides: [String: String], broker: BrokerConfig) -> LogConfig {
        resolve(overrides: overrides, broker: broker).log
    }

    // MARK: Validation

    /// Checks a topic's whole set of overrides as Kafka's LogConfig.validate does (names, then
    /// types and ranges in definition order, then the rules that span configs), and refuses
    /// values Sluice cannot honour. The message is Kafka's; the error is INVALID_CONFIG.
    public static func validationError(_ overrides: [String: String], broker: BrokerConfig) -> String? {
        for name in overrides.keys.sorted() where byName[name] == nil {
            return "Unknown topic config name: \(name)"
        }
        for definition in definitions {
            if let value = overrides[definition.name], let error = definition.key.validationError(value) { return error }
        }
        func effective(_ name: String) -> String { effectiveValue(name, overrides: overrides, broker: broker) }
        if let minLag = Int64(effective("min.compaction.lag.ms")), let maxLag = Int64(effective("max.compaction.lag.ms")), minLag > maxLag {
            return "conflict topic config setting min.compaction.lag.ms (\(minLag)) > max.compaction.lag.ms (\(maxLag))"
        }
        if effective("remote.storage.enable").lowercased() == "true" {
            return "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
        }
        return nil
    }

    /// The values as stored: each normalized as Kafka prints it.
    public static func normalized(_ overrides: [String: String]) -> [String: String] {
        overrides.reduce(into: [:]) { result, entry in
            result[entry.key] = byName[entry.key]?.key.normalized(entry.value) ?? entry.value
        }
    }

    // MARK: Incremental changes

    /// IncrementalAlterConfigs' operations, by Kafka's numbers.
    public enum Operation: Int8, Sendable {
        case set = 0
        case delete = 1
        case append = 2
        case subtract = 3
    }

    /// Applies IncrementalAlterConfigs operations to a topic's overrides, as Kafka's controller
    /// does: APPEND and SUBTRACT only on list configs, starting from the override or else the
    /// topic config's own default (not the broker's), APPEND skipping values already present.
    /// Returns the new overrides, or Kafka's INVALID_CONFIG message.
    public static func applying(_ operations: [(name: String, operation: Operation, value: String?)],
                                to current: [String: String]) -> Result<[String: String], TopicError> {
        var result = current
        for (name, operation, value) in operations {
            switch operation {
            case .set:
                guard let value else {
                    return .failure(TopicError(code: .invalidRequest, message: "Null value not supported for : \(name)"))
                }
                result[name] = value
            case .delete:
                result.removeValue(forKey: name)
            case .append, .subtract:
                guard let definition = byName[name], definition.key.type == .list else {
                    let verb = operation == .append ? "APPEND" : "SUBTRACT"
                    return .failure(TopicError(code: .invalidConfig, message: "Can't \(verb) to key \(name) because its type is not LIST."))
                }
                var list = ConfigKey.listElements(result[name] ?? definition.key.defaultValue ?? "").filter { !$0.isEmpty }
                for element in ConfigKey.listElements(value ?? "") {
                    if operation == .append {
                        if !list.contains(element) { list.append(element) }
                    } else if let index = list.firstIndex(of: element) {
                        list.remove(at: index)
                    }
                }
                result[name] = list.joined(separator: ",")
            }
        }
        return .success(result)
    }
}
