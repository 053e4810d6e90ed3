/// Every broker setting Sluice knows, by Kafka's names, types and defaults (Kafka 3.9's where
/// Kafka has the setting; a nil default is one Kafka leaves unset, such as log.retention.ms,
/// which then falls back to log.retention.hours). `dynamic` marks what Kafka's
/// DynamicBrokerConfig lets AlterConfigs change at run time and Sluice applies at once.
public enum BrokerSettings {
    static let long = "9223372036854775807"

    /// Every setting: the ones below, then the security settings.
    public static let all: [BrokerSetting] = general + SecuritySettings.all

    static let general: [BrokerSetting] = [
        // Identity, listeners, data.
        .init(key: ConfigKey("listeners", .string, "localhost:9092"),
              help: "Where to listen: Kafka's NAME://HOST:PORT list (PLAINTEXT://..., CONTROLLER://...) or a plain HOST:PORT (port 0 picks a free port).",
              dynamic: false),
        .init(key: ConfigKey("advertised.listeners", .string, ""), help: "HOST:PORT (or NAME://HOST:PORT) clients are told to connect to (default: the listener).", dynamic: false),
        .init(key: ConfigKey("metrics.listener", .string, ""), help: "HOST:PORT serving GET /metrics in Prometheus text format (empty: off; make run uses localhost:9644).", dynamic: false),
        .init(key: ConfigKey("log.dirs", .string, "./data"), help: "Data directory (created when missing, locked while the broker runs).", dynamic: false),
        .init(key: ConfigKey("metadata.log.dir", .string, ""),
              help: "Where a cluster node keeps the metadata log (__cluster_metadata-0); empty: in log.dirs. Apart, a full data disk leaves the quorum writable.",
              dynamic: false),
        .init(key: ConfigKey("node.id", .int, "1", .atLeast(0)), help: "This broker's node id.", dynamic: false),
        .init(key: ConfigKey("cluster.id", .string, ""), help: "Cluster id; generated on first start and kept in the data directory.", dynamic: false),

        // The cluster (KRaft's names). Unset, the broker is a single node and its own controller.
        .init(key: ConfigKey("process.roles", .string, ""), help: "broker, controller or both; needs controller.quorum.voters.", dynamic: false),
        .init(key: ConfigKey("controller.quorum.voters", .string, ""), help: "The metadata quorum's voters: ID@HOST:PORT,... (their CONTROLLER listeners); unset for a single broker.", dynamic: false),
        .init(key: ConfigKey("controller.listener.names", .string, ""), help: "Names in listeners that the quorum uses (CONTROLLER).", dynamic: false),
        .init(key: ConfigKey("broker.rack", .string, ""), help: "This broker's rack, for replica placement.", dynamic: false),
        .init(key: ConfigKey("broker.session.timeout.ms", .int, "9000", .atLeast(1)), help: "A broker that has not heartbeated for this long is fenced.", dynamic: false),
        .init(key: ConfigKey("broker.heartbeat.interval.ms", .int, "2000", .atLeast(1)), help: "How often a broker heartbeats to the controller.", dynamic: false),

        // Replication (Kafka's names and defaults).
        .init(key: ConfigKey("replica.lag.time.max.ms", .long, "30000", .atLeast(1)), help: "A follower that has not caught up with the leader for this long leaves the ISR.", dynamic: false),
        .init(key: ConfigKey("replica.fetch.wait.max.ms", .int, "500", .atLeast(0)), help: "How long a follower's fetch waits at the leader for new data.", dynamic: false),
        .init(key: ConfigKey("replica.fetch.max.bytes", .int, "1048576", .atLeast(0)), help: "Bytes a follower asks for per partition and fetch.", dynamic: false),
        .init(key: ConfigKey("replica.fetch.response.max.bytes", .int, "10485760", .atLeast(0)), help: "Bytes a follower asks for per fetch.", dynamic: false),
        .init(key: ConfigKey("replica.fetch.backoff.ms", .int, "1000", .atLeast(0)), help: "Pause before a follower fetches again after an error.", dynamic: false),
        .init(key: ConfigKey("replica.high.watermark.checkpoint.interval.ms", .long, "5000", .atLeast(1)), help: "How often replicated partitions' high watermarks are written to replication-offset-checkpoint.", dynamic: false),
        .init(key: ConfigKey("replica.selector.class", .string, ""), help: "org.apache.kafka.common.replica.RackAwareReplicaSelector lets consumers that set client.rack read from an in-sync replica in their rack (KIP-392).", dynamic: false),
        .init(key: ConfigKey("auto.leader.rebalance.enable", .boolean, "true"), help: "The controller gives leadership back to each partition's preferred (first) replica.", dynamic: false),
        .init(key: ConfigKey("leader.imbalance.check.interval.seconds", .long, "300", .atLeast(1)), help: "How often the controller checks for leadership away from preferred replicas.", dynamic: false),
        .init(key: ConfigKey("leader.imbalance.per.broker.percentage", .int, "10", .atLeast(0)), help: "Share of a broker's preferred partitions led elsewhere that triggers a rebalance.", dynamic: false),

        // Topics.
        .init(key: ConfigKey("num.partitions", .int, "1", .atLeast(1)), help: "Partitions of auto-created topics and of CreateTopics asking for -1.", dynamic: false),
        .init(key: ConfigKey("default.replication.factor", .int, "1"), help: "Replication factor of auto-created topics.", dynamic: false),
        .init(key: ConfigKey("max.broker.partitions", .int, "50000", .atLeast(1)),
              help: "Most partitions this broker hosts (KIP-578's name); CreateTopics and CreatePartitions past it get POLICY_VIOLATION.", dynamic: true),
        .init(key: ConfigKey("auto.create.topics.enable", .boolean, "true"), help: "Create a topic when a Metadata request names a missing one.", dynamic: false),
        .init(key: ConfigKey("min.insync.replicas", .int, "1", .atLeast(1)), help: "acks=all produces fail with NOT_ENOUGH_REPLICAS while fewer replicas are in sync (topic: min.insync.replicas).", dynamic: true),
        .init(key: ConfigKey("unclean.leader.election.enable", .boolean, "false"), help: "Let an out-of-sync replica become leader (topic: unclean.leader.election.enable; no effect with one broker).", dynamic: true),
        .init(key: ConfigKey("remote.log.storage.system.enable", .boolean, "false"), help: "Tiered storage; Sluice has none, so only false is accepted.", dynamic: false),

        // Requests and connections.
        .init(key: ConfigKey("message.max.bytes", .int, "1048588", .atLeast(0)), help: "Largest record batch a producer may send (topic: max.message.bytes).", dynamic: true),
        .init(key: ConfigKey("socket.request.max.bytes", .int, "104857600", .atLeast(1)), help: "Largest request frame; a larger size prefix closes the connection before anything is read.", dynamic: false),
        .init(key: ConfigKey("connections.max.idle.ms", .long, "600000"), help: "Close connections idle this long.", dynamic: false),
        .init(key: ConfigKey("max.connections", .int, "10000", .atLeast(0)), help: "Connections accepted at once; more are closed at accept (Kafka: unlimited).", dynamic: true),
        .init(key: ConfigKey("connection.max.pending.requests", .int, "100", .atLeast(1)),
              help: "Requests read from one connection and not yet answered; past it the broker stops reading from that socket until answers go out (Kafka answers one at a time).", dynamic: false),
        .init(key: ConfigKey("log.writer.max.queued.bytes", .long, "67108864", .atLeast(1)),
              help: "Bytes handed to the storage writer and not yet written; past it produce requests wait, so a slow disk pushes back on producers.", dynamic: false),
        .init(key: ConfigKey("num.network.threads", .int, "0", .atLeast(0)), help: "Event loops (0: one per core this process may run on, after taskset or a cpuset). Each partition is owned by one of them; fixed while the broker runs.", dynamic: false),
        .init(key: ConfigKey("compression.type", .string, "producer", .oneOf(["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"])),
              help: "producer (keep the producer's codec), uncompressed, gzip, snappy, lz4 or zstd (topic: compression.type).", dynamic: true),
        .init(key: ConfigKey("compression.gzip.level", .int, "-1", .gzipLevel), help: "gzip level when the broker recompresses (-1: zlib's default).", dynamic: true),
        .init(key: ConfigKey("compression.lz4.level", .int, "9", .between(1, 17)), help: "lz4 level when the broker recompresses (9: the fast compressor, as Kafka).", dynamic: true),
        .init(key: ConfigKey("compression.zstd.level", .int, "3", .between(-131_072, 22)), help: "zstd level when the broker recompresses.", dynamic: true),

        // Segments, retention, flushing: the defaults of the topic configs named after them.
        .init(key: ConfigKey("log.segment.bytes", .int, "1073741824", .atLeast(14)), help: "Segment size before rolling (topic: segment.bytes).", dynamic: true),
        .init(key: ConfigKey("log.roll.ms", .long, nil), help: "Segment age before rolling; unset: log.roll.hours (topic: segment.ms).", dynamic: true),
        .init(key: ConfigKey("log.roll.hours", .int, "168", .atLeast(1)), help: "Segment age before rolling, in hours, when log.roll.ms is unset.", dynamic: false),
        .init(key: ConfigKey("log.roll.jitter.ms", .long, nil), help: "Up to this much is taken off each segment's roll age at random; unset: log.roll.jitter.hours (topic: segment.jitter.ms).", dynamic: true),
        .init(key: ConfigKey("log.roll.jitter.hours", .int, "0", .atLeast(0)), help: "Roll jitter in hours, when log.roll.jitter.ms is unset.", dynamic: false),
        .init(key: ConfigKey("log.retention.ms", .long, nil), help: "Delete segments older than this; -1 keeps forever; unset: log.retention.minutes, then log.retention.hours (topic: retention.ms).", dynamic: true),
        .init(key: ConfigKey("log.retention.minutes", .int, nil), help: "Retention in minutes, when log.retention.ms is unset.", dynamic: false),
        .init(key: ConfigKey("log.retention.hours", .int, "168"), help: "Retention in hours, when log.retention.ms and log.retention.minutes are unset.", dynamic: false),
        .init(key: ConfigKey("log.retention.bytes", .long, "-1"), help: "Delete oldest segments beyond this size per partition; -1: no limit (topic: retention.bytes).", dynamic: true),
        .init(key: ConfigKey("log.retention.check.interval.ms", .long, "300000", .atLeast(1)), help: "How often retention and timed flushes run.", dynamic: false),
        .init(key: ConfigKey("log.cleanup.policy", .list, "delete", .listOf(["compact", "delete"])),
              help: "delete (retention applies), compact (the log cleaner keeps each key's latest record), both, or empty (keep everything) (topic: cleanup.policy).", dynamic: true),
        .init(key: ConfigKey("log.flush.interval.messages", .long, "1", .atLeast(1)),
              help: "1 (Sluice's default): acknowledge only after fdatasync. Kafka's default 9223372036854775807: acknowledge after the write, fsync in the background (topic: flush.messages).", dynamic: true),
        .init(key: ConfigKey("log.flush.interval.ms", .long, nil), help: "Background fsync interval when not durable per append; unset: log.flush.scheduler.interval.ms (topic: flush.ms).", dynamic: true),
        .init(key: ConfigKey("log.flush.scheduler.interval.ms", .long, long), help: "Background fsync interval when log.flush.interval.ms is unset.", dynamic: false),
        .init(key: ConfigKey("log.index.interval.bytes", .int, "4096", .atLeast(0)), help: "Bytes between offset-index entries (topic: index.interval.bytes).", dynamic: true),
        .init(key: ConfigKey("log.index.size.max.bytes", .int, "10485760", .atLeast(4)), help: "Kafka's offset-index size; accepted for compatibility, Sluice's indexes grow as needed (topic: segment.index.bytes).", dynamic: true),
        .init(key: ConfigKey("log.segment.delete.delay.ms", .long, "60000", .atLeast(0)), help: "Accepted for compatibility: Sluice unlinks deleted segments at once and closes them after their last reader (topic: file.delete.delay.ms).", dynamic: true),
        .init(key: ConfigKey("log.preallocate", .boolean, "false"), help: "Accepted for compatibility; segments are not preallocated (topic: preallocate).", dynamic: true),
        .init(key: ConfigKey("log.message.timestamp.type", .string, "CreateTime", .oneOf(["CreateTime", "LogAppendTime"])), help: "CreateTime or LogAppendTime (topic: message.timestamp.type).", dynamic: true),
        .init(key: ConfigKey("log.message.timestamp.difference.max.ms", .long, long, .atLeast(0)), help: "Deprecated: the before/after bounds when those are unset (topic: message.timestamp.difference.max.ms).", dynamic: true),
        .init(key: ConfigKey("log.message.timestamp.before.max.ms", .long, long, .atLeast(0)), help: "CreateTime records older than this are refused with INVALID_TIMESTAMP (topic: message.timestamp.before.max.ms).", dynamic: true),
        .init(key: ConfigKey("log.message.timestamp.after.max.ms", .long, long, .atLeast(0)), help: "CreateTime records further in the future are refused with INVALID_TIMESTAMP (topic: message.timestamp.after.max.ms).", dynamic: true),
        .init(key: ConfigKey("log.message.downconversion.enable", .boolean, "true"), help: "Accepted for compatibility: Sluice serves Fetch v4+ only, which needs no down-conversion (topic: message.downconversion.enable).", dynamic: true),
        .init(key: ConfigKey("log.message.format.version", .string, "3.0-IV1", .metadataVersion), help: "Deprecated and ignored, as in Kafka 3.x: batches are always v2 (topic: message.format.version).", dynamic: true),
        .init(key: ConfigKey("log.cleaner.delete.retention.ms", .long, "86400000", .atLeast(0)), help: "How long a compacted topic's tombstones stay readable once the cleaner has kept them (topic: delete.retention.ms).", dynamic: true),
        .init(key: ConfigKey("log.cleaner.min.compaction.lag.ms", .long, "0", .atLeast(0)), help: "Records younger than this are not compacted (topic: min.compaction.lag.ms).", dynamic: true),
        .init(key: ConfigKey("log.cleaner.max.compaction.lag.ms", .long, long, .atLeast(1)), help: "A log whose oldest uncleaned record waited this long is cleaned whatever its dirty ratio (topic: max.compaction.lag.ms).", dynamic: true),
        .init(key: ConfigKey("log.cleaner.min.cleanable.ratio", .double, "0.5", .fraction(0, 1)), help: "Share of a compacted log that must be uncleaned before it is cleaned (topic: min.cleanable.dirty.ratio).", dynamic: true),
        .init(key: ConfigKey("log.cleaner.enable", .boolean, "true"), help: "Run the log cleaner, which compacts topics with cleanup.policy=compact.", dynamic: false),
        .init(key: ConfigKey("log.cleaner.threads", .int, "1", .between(1, 1)), help: "Cleaner threads; Sluice runs one (it cleans one log at a time, off the event loops).", dynamic: false),
        .init(key: ConfigKey("log.cleaner.dedupe.buffer.size", .long, "134217728", .atLeast(1 << 16)), help: "Memory for the cleaner's offset map (24 bytes a key); allocated per cleaning, no larger than the dirty records need.", dynamic: false),
        .init(key: ConfigKey("log.cleaner.io.buffer.load.factor", .double, "0.9", .fraction(0, 1)), help: "How full the offset map may get.", dynamic: false),
        .init(key: ConfigKey("log.cleaner.io.max.bytes.per.second", .double, "1.7976931348623157E308"), help: "The cleaner reads and writes at most this many bytes a second.", dynamic: false),
        .init(key: ConfigKey("log.cleaner.backoff.ms", .long, "15000", .atLeast(0)), help: "How long the cleaner sleeps when no log needs cleaning.", dynamic: false),
        .init(key: ConfigKey("log.local.retention.ms", .long, "-2", .atLeast(-2)), help: "Tiered storage's local retention (topic: local.retention.ms; no effect without tiered storage).", dynamic: true),
        .init(key: ConfigKey("log.local.retention.bytes", .long, "-2", .atLeast(-2)), help: "Tiered storage's local retention (topic: local.retention.bytes; no effect without tiered storage).", dynamic: true),
        .init(key: ConfigKey("log.io.backend", .string, "automatic"), help: "automatic (io_uring when available), io_uring or pwrite.", dynamic: false),

        // Groups and committed offsets.
        .init(key: ConfigKey("group.min.session.timeout.ms", .int, "6000"), help: "Shortest session timeout a group member may ask for.", dynamic: false),
        .init(key: ConfigKey("group.max.session.timeout.ms", .int, "1800000"), help: "Longest session timeout a group member may ask for.", dynamic: false),
        .init(key: ConfigKey("group.initial.rebalance.delay.ms", .int, "3000"), help: "How long the first rebalance of an empty group waits for more members.", dynamic: false),
        .init(key: ConfigKey("group.max.size", .int, "2147483647", .atLeast(1)), help: "Most members a consumer group may have.", dynamic: false),
        .init(key: ConfigKey("offsets.retention.minutes", .int, "10080", .atLeast(1)), help: "Committed offsets of an empty group expire this long after it emptied.", dynamic: false),
        .init(key: ConfigKey("offsets.retention.check.interval.ms", .long, "600000", .atLeast(1)), help: "How often expired offsets are removed.", dynamic: false),
        .init(key: ConfigKey("offset.metadata.max.bytes", .int, "4096"), help: "Longest metadata string an offset commit may carry.", dynamic: false),
        .init(key: ConfigKey("offsets.topic.num.partitions", .int, "50", .atLeast(1)), help: "Partitions of __consumer_offsets (a cluster's group log), fixed once it is created.", dynamic: false),
        .init(key: ConfigKey("offsets.topic.replication.factor", .int, "3", .atLeast(1)), help: "Replicas of each __consumer_offsets partition (at most the live brokers when it is created).", dynamic: false),
        .init(key: ConfigKey("offsets.commit.timeout.ms", .int, "5000", .atLeast(1)), help: "How long a commit waits for the __consumer_offsets replicas before it fails.", dynamic: false),
        .init(key: ConfigKey("offsets.topic.segment.bytes", .int, "104857600", .atLeast(1)), help: "Segment size of the group log (__consumer_offsets, compacted: the cleaner takes closed segments only).", dynamic: false),
        .init(key: ConfigKey("offsets.compaction.min.records", .int, "100000", .atLeast(1)),
              help: "Deprecated and ignored: the log cleaner compacts the group log (accepted so earlier configs still load).", dynamic: false),
        .init(key: ConfigKey("transaction.max.timeout.ms", .int, "900000", .atLeast(1)), help: "The longest transaction.timeout.ms a transactional producer may ask for (INVALID_TRANSACTION_TIMEOUT beyond).", dynamic: false),
        .init(key: ConfigKey("transaction.abort.timed.out.transaction.cleanup.interval.ms", .int, "10000", .atLeast(1)), help: "How often transactions open past their timeout are aborted (their producers fenced).", dynamic: false),
        .init(key: ConfigKey("transaction.state.log.segment.bytes", .int, "104857600", .atLeast(1)), help: "Segment size of the transaction log (compacted: the cleaner takes closed segments only).", dynamic: false),
        .init(key: ConfigKey("transactional.id.expiration.ms", .int, "604800000", .atLeast(1)), help: "A transactional id unused this long, with no transaction under way, is forgotten (its record becomes a tombstone).", dynamic: false),
        .init(key: ConfigKey("transaction.remove.expired.transaction.cleanup.interval.ms", .int, "3600000", .atLeast(1)), help: "How often transactional ids are checked for expiry.", dynamic: false),
        .init(key: ConfigKey("transaction.state.log.num.partitions", .int, "50", .atLeast(1)), help: "Partitions of __transaction_state (a cluster's transaction log), fixed once it is created.", dynamic: false),
        .init(key: ConfigKey("transaction.state.log.replication.factor", .int, "3", .atLeast(1)), help: "Replicas of each __transaction_state partition (at most the live brokers when it is created).", dynamic: false),
        .init(key: ConfigKey("transaction.state.log.min.isr", .int, "2", .atLeast(1)), help: "min.insync.replicas of __transaction_state: a transaction record is written once this many replicas hold it.", dynamic: false),
    ]

    private static let byName: [String: BrokerSetting] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// A setting by name; a listener-prefixed name (`listener.name.<l>.sasl.jaas.config`) is the
    /// setting it overrides.
    public static func named(_ name: String) -> BrokerSetting? { byName[name] ?? SecuritySettings.overridden(name) }

    static let defaults: [String: String] = Dictionary(uniqueKeysWithValues: all.compactMap { setting in
        setting.defaultValue.map { (setting.name, $0) }
    })

    /// Kafka's DynamicBrokerConfig.brokerConfigSynonyms: settings that are one setting in
    /// different units, first the one that wins.
    static let synonymGroups: [[String]] = [
        ["log.roll.ms", "log.roll.hours"],
        ["log.roll.jitter.ms", "log.roll.jitter.hours"],
        ["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        ["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
    ]

    /// The setting and its synonyms, in Kafka's order.
    public static func synonyms(of name: String) -> [String] {
        synonymGroups.first { $0.contains(name) } ?? [name]
    }
}
