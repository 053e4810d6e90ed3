import Glibc
import KafkaProtocol
import Logging
import SluiceStorage
import Synchronization

/// A topic as the registry knows it.
public struct Topic: Sendable {
    public let name: String
    public let id: KafkaUUID
    public internal(set) var partitions: [Partition]
    /// The topic's config overrides (DescribeConfigs' TOPIC_CONFIG entries).
    public private(set) var configs: [String: String]
    /// The settings in force, resolved when the overrides or the broker's settings change (the
    /// produce and fetch paths read them).
    public private(set) var resolved: TopicConfigs.Resolved

    /// `max.message.bytes` in force.
    public var maxMessageBytes: Int { resolved.maxMessageBytes }
    /// The codec `compression.type` asks for, or nil for `producer` (keep the producer's).
    public var requiredCompression: CompressionCodec? { resolved.requiredCompression }

    init(name: String, id: KafkaUUID, configs: [String: String], broker: BrokerConfig) {
        self.name = name
        self.id = id
        self.partitions = []
        self.configs = configs
        self.resolved = TopicConfigs.resolve(overrides: Self.inForce(name: name, configs), broker: broker)
    }

    mutating func setConfigs(_ configs: [String: String], broker: BrokerConfig) {
        self.configs = configs
        resolved = TopicConfigs.resolve(overrides: Self.inForce(name: name, configs), broker: broker)
    }

    /// The group log is compacted whatever the broker's log.cleanup.policy, as Kafka creates
    /// it: an __consumer_offsets made before the cleaner existed (retention off, no policy) is
    /// compacted too rather than growing forever. An explicit policy still wins.
    private static func inForce(name: String, _ configs: [String: String]) -> [String: String] {
        guard name == OffsetsTopicStore.topic, configs["cleanup.policy"] == nil else { return configs }
        return configs.merging(["cleanup.policy": "compact"]) { given, _ in given }
    }
}

/// An error a topic operation answers with: a Kafka error code and a message for the client.
public struct TopicError: Error, Sendable, CustomStringConvertible {
    public let code: KafkaErrorCode
    public let message: String
    public var description: String { "\(code.rawValue): \(message)" }
}

/// The topics of this broker, their partitions and logs, persisted in the data directory so
/// they (with their ids and configs) survive restarts. Partition directories use Kafka's
/// `<topic>-<partition>` names; topic metadata lives in `__sluice_topics/<topic id>.topic`.
///
/// Thread-safe: lookups take a short lock; creation and deletion are serialized.
public final class TopicRegistry: Sendable {
    public let dataDirectory: String
    let topics = Mutex<[String: Topic]>([:])
    let changes = Mutex<Void>(())
    let environment: Environment
    private let broker: Mutex<BrokerConfig>
    /// Topics whose deletion has not finished moving their partition directories aside, with
    /// the work waiting for it (a CreateTopics of the same name).
    private let deletions = Mutex<[String: [@Sendable () -> Void]]>([:])

    /// The broker's settings in force (static and dynamic).
    public var brokerConfig: BrokerConfig { broker.withLock { $0 } }

    /// What the registry needs from the broker: settings, storage, and who owns partitions.
    public struct Environment: Sendable {
        public var broker: BrokerConfig
        public var writer: any LogWriter
        public var files: FileHandleCache
        public var cleanShutdown: Bool
        public var clock: @Sendable () -> Int64
        public var ownerFor: @Sendable (String, Int32) -> any LogOwnerExecutor
        public var logger: Logger
        public var onPartitionOpened: @Sendable (Partition) -> Void
        /// Where the logs count the damage they find (shown on /metrics).
        public var health: StorageHealth
        /// This broker's node id: the leader of the partitions it hosts alone.
        public var localBroker: Int32
        /// Part of a cluster: the metadata image, not this broker, says who leads each
        /// partition, so partitions found on disk lead nothing until the image names them.
        public var clustered = false
        /// How partitions with other replicas reach the controller (standalone: none have).
        public var replication = ReplicationEnvironment.standalone

        public init(broker: BrokerConfig, writer: any LogWriter, files: FileHandleCache, cleanShutdown: Bool,
                    clock: @escaping @Sendable () -> Int64, ownerFor: @escaping @Sendable (String, Int32) -> any LogOwnerExecutor,
                    logger: Logger, onPartitionOpened: @escaping @Sendable (Partition) -> Void = { _ in },
                    health: StorageHealth = StorageHealth(), localBroker: Int32 = 1) {
            self.health = health
            self.localBroker = localBroker
            self.broker = broker
            self.writer = writer
            self.files = files
            self.cleanShutdown = cleanShutdown
            self.clock = clock
            self.ownerFor = ownerFor
            self.logger = logger
            self.onPartitionOpened = onPartitionOpened
        }
    }

    static let metadataFolder = "__sluice_topics"
    /// The high watermarks the last run checkpointed (a cluster's partitions start from them).
    let checkpointedHighWatermarks: [HighWatermarkCheckpoint.Key: Int64]

    public init(dataDirectory: String, environment: Environment) throws {
        self.dataDirectory = dataDirectory
        self.environment = environment
        self.checkpointedHighWatermarks = environment.clustered ? HighWatermarkCheckpoint.load(dataDirectory: dataDirectory) : [:]
        self.broker = Mutex(environment.broker)
        let folder = dataDirectory + "/" + Self.metadataFolder
        mkdir(folder, 0o755)
        var loaded: [String: Topic] = [:]
        var partitionCounts: [String: Int32] = [:]
        for file in listDirectory(folder) ?? [] where file.hasSuffix(".topic") {
            guard let text = readText(folder + "/" + file) else { continue }
            var fields: [String: String] = [:]
            var configs: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let equals = line.firstIndex(of: "=") else { continue }
                let key = String(line[..<equals])
                let value = String(line[line.index(after: equals)...])
                if key.hasPrefix("config.") { configs[String(key.dropFirst(7))] = value } else { fields[key] = value }
            }
            guard let name = fields["name"], let idText = fields["id"], let id = KafkaUUID(idText),
                  let count = Int32(fields["partitions"] ?? "") else {
                environment.logger.error("unreadable topic metadata; skipping", metadata: ["file": "\(file)"])
                continue
            }
            var topic = Topic(name: name, id: id, configs: configs, broker: brokerConfig)
            if file != Self.metadataFileName(id) {
                // Written by an older Sluice under the topic's name: move it to the id's name.
                try persist(topic, partitionCount: count)
                unlink(folder + "/" + file)
            }
            for index in 0..<count {
                // In a cluster a topic lists every partition, but this broker holds logs only for
                // those it is a replica of: the others stay log-less until the image says more.
                if environment.clustered && !isDirectory(dataDirectory + "/\(name)-\(index)") {
                    topic.partitions.append(Partition(topic: name, topicId: id, index: index, owner: environment.ownerFor(name, index),
                                                      localBroker: environment.localBroker, log: nil, state: .unknown))
                    continue
                }
                topic.partitions.append(openPartition(topic: name, id: id, index: index, configs: configs))
            }
            loaded[name] = topic
            partitionCounts[name] = count
        }
        topics.withLock { $0 = loaded }
        removeStrayDirectories(known: partitionCounts)
    }

    /// Partition directories that belong to no topic (a deletion cut short by a crash, between
    /// removing the topic's metadata and moving its directories aside) and directories already
    /// moved aside are removed at start, before any topic can be created under a stray name.
    private func removeStrayDirectories(known: [String: Int32]) {
        for entry in listDirectory(dataDirectory) ?? [] where !entry.hasPrefix("__sluice_") && entry != Self.metadataLogDirectory {
            let path = dataDirectory + "/" + entry
            if entry.hasSuffix(Self.deletedSuffix) {
                removeDirectoryTree(path)
                continue
            }
            guard let dash = entry.lastIndex(of: "-"), let index = Int32(entry[entry.index(after: dash)...]), index >= 0 else { continue }
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { continue }
            let topic = String(entry[..<dash])
            if let count = known[topic], index < count { continue }
            environment.logger.warning("removing the directory of a partition no topic has (a deletion a crash cut short)",
                                       metadata: ["directory": "\(entry)"])
            let aside = dataDirectory + "/" + Self.deletedDirectoryName(topic: topic, partition: index)
            if rename(path, aside) == 0 { removeDirectoryTree(aside) }
        }
    }

    static let deletedSuffix = "-delete"
    /// The metadata quorum's log (Kafka's name); the registry never touches it.
    public static let metadataLogDirectory = "__cluster_metadata-0"

    /// Kafka's LocalLog.logDeleteDirName: `<topic>-<partition>.<uuid>-delete`, the topic cut so
    /// the name stays within 255 bytes.
    static func deletedDirectoryName(topic: String, partition: Int32) -> String {
        let id = KafkaUUID.random()
        let hex = String(id.high, radix: 16).leftPaddedWithZeros(16) + String(id.low, radix: 16).leftPaddedWithZeros(16)
        let suffix = "-\(partition).\(hex)\(deletedSuffix)"
        let prefix = String(decoding: Array(topic.utf8).prefix(max(0, 255 - suffix.utf8.count)), as: UTF8.self)
        return prefix + suffix
    }

    /// Topic metadata files are named by topic id: a 249-character topic name plus ".topic.tmp"
    /// would pass the file system's 255-byte limit.
    static func metadataFileName(_ id: KafkaUUID) -> String { "\(id).topic" }

    /// New partitions' logs, all or none: the directories of those made before a failure are
    /// removed again (nothing is persisted until all exist).
    func createPartitionLogs(topic: String, id: KafkaUUID, indexes: Range<Int32>, configs: [String: String]) throws -> [Partition] {
        var made: [Partition] = []
        do {
            for index in indexes {
                let partition = openPartition(topic: topic, id: id, index: index, configs: configs)
                made.append(partition)
                if let reason = partition.offlineReason { throw TopicError(code: .kafkaStorageError, message: reason) }
            }
            return made
        } catch {
            discard(made)
            throw error
        }
    }

    /// Partitions made for a creation that failed: their logs stop and their directories go.
    func discard(_ partitions: [Partition]) {
        for partition in partitions {
            let aside = dataDirectory + "/" + Self.deletedDirectoryName(topic: partition.topic, partition: partition.index)
            partition.owner.execute { partition.log?.detachForDeletion(renamingTo: aside) }
        }
    }

    /// Opens a partition's log. A log that cannot be opened leaves the partition offline in its
    /// place (KAFKA_STORAGE_ERROR for its requests) rather than out of the topic.
    func openPartition(topic: String, id: KafkaUUID, index: Int32, configs: [String: String],
                       state given: PartitionState? = nil) -> Partition {
        let owner = environment.ownerFor(topic, index)
        let local = environment.localBroker
        let state = given ?? (environment.clustered ? PartitionState.unknown : nil)
        do {
            let log = try PartitionLog(
                directory: dataDirectory + "/\(topic)-\(index)",
                config: TopicConfigs.logConfig(overrides: configs, broker: brokerConfig),
                writer: environment.writer, owner: owner, files: environment.files,
                cleanShutdown: environment.cleanShutdown, nowMs: environment.clock(), logger: environment.logger,
                health: environment.health)
            if environment.clustered, let checkpointed = checkpointedHighWatermarks[.init(topic: topic, partition: index)] {
                log.restoreHighWatermark(checkpointed)
            }
            let partition = Partition(topic: topic, topicId: id, index: index, owner: owner, localBroker: local, log: log, state: state,
                                      replication: environment.replication)
            partition.minInsyncReplicas = TopicConfigs.resolve(overrides: configs, broker: brokerConfig).minInsyncReplicas
            environment.onPartitionOpened(partition)
            return partition
        } catch {
            environment.logger.error("partition offline", metadata: ["topic": "\(topic)", "partition": "\(index)", "error": "\(error)"])
            return Partition(topic: topic, topicId: id, index: index, owner: owner, localBroker: local, log: nil,
                             offlineReason: "\(error)", state: state)
        }
    }

    // MARK: Lookups

    public func topic(named name: String) -> Topic? {
        topics.withLock { $0[name] }
    }

    public func topic(id: KafkaUUID) -> Topic? {
        topics.withLock { $0.values.first { $0.id == id } }
    }

    public func partition(topic: String, index: Int32) -> Partition? {
        topics.withLock { topics in
            guard let topic = topics[topic], index >= 0, Int(index) < topic.partitions.count else { return nil }
            return topic.partitions[Int(index)]
        }
    }

    public var allTopics: [Topic] {
        topics.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    // MARK: Changes

    /// Creates a topic (or, with `validateOnly`, checks that it could be created).
    public func createTopic(name: String, partitions requested: Int32, replicationFactor: Int16,
                            configs: [String: String], validateOnly: Bool) throws(TopicError) -> Topic {
        try changes.withLock { _ throws(TopicError) -> Topic in
            if let reason = TopicName.validationError(name) {
                throw TopicError(code: .invalidTopicException, message: reason)
            }
            let existing = topics.withLock { $0 }
            if existing[name] != nil {
                throw TopicError(code: .topicAlreadyExists, message: "Topic '\(name)' already exists.")
            }
            if isBeingDeleted(name) {
                throw TopicError(code: .topicAlreadyExists, message: "Topic '\(name)' is marked for deletion.")
            }
            let key = TopicName.collisionKey(name)
            if let clash = existing.keys.first(where: { TopicName.collisionKey($0) == key }) {
                throw TopicError(code: .invalidTopicException,
                                 message: "Topic '\(name)' collides with existing topic: \(clash)")
            }
            let broker = brokerConfig
            let count = requested == -1 ? Int32(broker.int("num.partitions")) : requested
            guard count >= 1 else {
                throw TopicError(code: .invalidPartitions, message: "Number of partitions must be larger than 0.")
            }
            try checkPartitionLimit(adding: Int(count), to: existing, broker: broker)
            let factor = replicationFactor == -1 ? Int16(broker.int("default.replication.factor")) : replicationFactor
            guard factor >= 1 else {
                throw TopicError(code: .invalidReplicationFactor, message: "Replication factor must be larger than 0.")
            }
            guard factor <= 1 else {
                throw TopicError(code: .invalidReplicationFactor,
                                 message: "Replication factor: \(factor) larger than available brokers: 1.")
            }
            if let reason = TopicConfigs.validationError(configs, broker: broker) {
                throw TopicError(code: .invalidConfig, message: reason)
            }
            let configs = TopicConfigs.normalized(configs)
            let id = KafkaUUID.random()
            var topic = Topic(name: name, id: id, configs: configs, broker: broker)
            if validateOnly { return topic }
            do {
                topic.partitions = try createPartitionLogs(topic: name, id: id, indexes: 0..<count, configs: configs)
                try persist(topic, partitionCount: count)
            } catch {
                discard(topic.partitions)
                throw TopicError(code: .kafkaStorageError, message: "cannot create the topic's files: \(error)")
            }
            topics.withLock { $0[name] = topic }
            environment.logger.info("created topic", metadata: ["topic": "\(name)", "partitions": "\(count)", "id": "\(id)"])
            return topic
        }
    }

    /// Deletes a topic. Its metadata goes at once (the commit point: a crash after it leaves
    /// only stray directories, removed at the next start) and the topic disappears from
    /// lookups; then each partition's directory is moved aside and removed on the partition's
    /// own executor. `completion` runs when every directory has been moved, so the name can be
    /// reused without the new topic ever touching the old one's files.
    public func deleteTopic(name: String, completion: @escaping @Sendable () -> Void) throws(TopicError) {
        try changes.withLock { _ throws(TopicError) in
            try deleteTopicHoldingChanges(name: name, completion: completion)
        }
    }

    /// `deleteTopic` for a caller that holds `changes`.
    func deleteTopicHoldingChanges(name: String, completion: @escaping @Sendable () -> Void) throws(TopicError) {
        do {
            guard let topic = topics.withLock({ $0.removeValue(forKey: name) }) else {
                throw TopicError(code: .unknownTopicOrPartition, message: "This server does not host this topic-partition.")
            }
            unlink(dataDirectory + "/" + Self.metadataFolder + "/" + Self.metadataFileName(topic.id))
            deletions.withLock { $0[name, default: []].append(completion) }
            let remaining = Mutex(topic.partitions.count)
            let finish: @Sendable () -> Void = { [self] in
                guard remaining.withLock({ count -> Bool in
                    count -= 1
                    return count <= 0
                }) else { return }
                let waiting = deletions.withLock { $0.removeValue(forKey: name) } ?? []
                environment.logger.info("deleted topic", metadata: ["topic": "\(name)", "id": "\(topic.id)"])
                waiting.forEach { $0() }
            }
            if topic.partitions.isEmpty { finish() }
            for partition in topic.partitions {
                let aside = dataDirectory + "/" + Self.deletedDirectoryName(topic: name, partition: partition.index)
                partition.owner.execute {
                    if let log = partition.log {
                        log.detachForDeletion(renamingTo: aside)
                    } else if rename(self.dataDirectory + "/\(name)-\(partition.index)", aside) == 0 {
                        removeDirectoryTree(aside)
                    }
                    finish()
                }
            }
        }
    }

    /// max.broker.partitions (KIP-578's name): what one broker may host, so that no request can
    /// take it past what it can open, serve and restart with.
    private func checkPartitionLimit(adding count: Int, to existing: [String: Topic], broker: BrokerConfig) throws(TopicError) {
        let limit = broker.int("max.broker.partitions")
        let hosted = existing.values.reduce(0) { $0 + $1.partitions.count }
        guard hosted + count <= limit else {
            throw TopicError(code: .policyViolation,
                             message: "Adding \(count) partitions would take this broker to \(hosted + count), over its max.broker.partitions of \(limit).")
        }
    }

    /// A deleted topic whose directories are still being moved aside.
    public func isBeingDeleted(_ name: String) -> Bool {
        deletions.withLock { $0[name] != nil }
    }

    /// Runs `work` once no topic among `names` is still being deleted (at once when none is):
    /// CreateTopics waits this way for a DeleteTopics of the same name sent just before it.
    public func afterDeletions(of names: [String], _ work: @escaping @Sendable () -> Void) {
        let pending = deletions.withLock { deletions -> String? in
            guard let name = names.first(where: { deletions[$0] != nil }) else { return nil }
            deletions[name, default: []].append { [self] in afterDeletions(of: names, work) }
            return name
        }
        if pending == nil { work() }
    }

    /// Adds partitions to a topic (CreatePartitions).
    public func createPartitions(name: String, totalCount: Int32, validateOnly: Bool) throws(TopicError) {
        try changes.withLock { _ throws(TopicError) in
            guard var topic = topics.withLock({ $0[name] }) else {
                throw TopicError(code: .unknownTopicOrPartition, message: "The topic '\(name)' does not exist.")
            }
            let current = Int32(topic.partitions.count)
            guard totalCount > current else {
                throw TopicError(code: .invalidPartitions,
                                 message: "Topic currently has \(current) partitions, which is higher than the requested \(totalCount).")
            }
            try checkPartitionLimit(adding: Int(totalCount - current), to: topics.withLock { $0 }, broker: brokerConfig)
            if validateOnly { return }
            var added: [Partition] = []
            do {
                added = try createPartitionLogs(topic: name, id: topic.id, indexes: current..<totalCount, configs: topic.configs)
                topic.partitions += added
                try persist(topic, partitionCount: totalCount)
            } catch {
                discard(added)
                throw TopicError(code: .kafkaStorageError, message: "\(error)")
            }
            let updated = topic
            topics.withLock { $0[name] = updated }
        }
    }

    /// Replaces a topic's config overrides with what `change` makes of them (AlterConfigs
    /// replaces them all; IncrementalAlterConfigs applies its operations), after validating
    /// the whole resulting set.
    public func alterConfigs(name: String, validateOnly: Bool,
                             change: ([String: String]) -> Result<[String: String], TopicError>) throws(TopicError) {
        try changes.withLock { _ throws(TopicError) in
            guard var topic = topics.withLock({ $0[name] }) else {
                throw TopicError(code: .unknownTopicOrPartition, message: "The topic '\(name)' does not exist.")
            }
            let configs: [String: String]
            switch change(topic.configs) {
            case .failure(let error): throw error
            case .success(let updated): configs = updated
            }
            let broker = brokerConfig
            if let reason = TopicConfigs.validationError(configs, broker: broker) {
                throw TopicError(code: .invalidConfig, message: reason)
            }
            if validateOnly { return }
            topic.setConfigs(TopicConfigs.normalized(configs), broker: broker)
            do {
                try persist(topic, partitionCount: Int32(topic.partitions.count))
            } catch {
                throw TopicError(code: .kafkaStorageError, message: "\(error)")
            }
            let logConfig = topic.resolved.log
            for partition in topic.partitions {
                partition.owner.execute { partition.log?.updateConfig(logConfig) }
            }
            let updated = topic
            topics.withLock { $0[name] = updated }
        }
    }

    /// Puts new broker settings in force (a dynamic change): every topic's configs are
    /// resolved again, and partitions whose log settings changed get them at once, as Kafka's
    /// DynamicLogConfig does (a topic's own overrides still win).
    public func reconfigure(_ config: BrokerConfig) {
        changes.withLock { _ in
            broker.withLock { $0 = config }
            let current = topics.withLock { $0 }
            var updated: [String: Topic] = [:]
            for (name, var topic) in current {
                let before = topic.resolved
                topic.setConfigs(topic.configs, broker: config)
                updated[name] = topic
                for partition in topic.partitions { partition.minInsyncReplicas = topic.resolved.minInsyncReplicas }
                guard topic.resolved.log != before.log else { continue }
                let logConfig = topic.resolved.log
                for partition in topic.partitions {
                    partition.owner.execute { partition.log?.updateConfig(logConfig) }
                }
            }
            topics.withLock { topics in
                for (name, topic) in updated where topics[name] != nil { topics[name] = topic }
            }
        }
    }

    func persist(_ topic: Topic, partitionCount: Int32) throws {
        var text = "name=\(topic.name)\nid=\(topic.id)\npartitions=\(partitionCount)\n"
        for (key, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
            text += "config.\(key)=\(value)\n"
        }
        try writeTextAtomically(dataDirectory + "/" + Self.metadataFolder + "/" + Self.metadataFileName(topic.id), text)
    }
}

// MARK: Text files, over SluiceStorage's small-file helpers

func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}

/// A whole small text file, or nil when it cannot be read.
public func readText(_ path: String) -> String? {
    readWholeFile(path: path).map { String(decoding: $0, as: UTF8.self) }
}

func writeTextAtomically(_ path: String, _ text: String) throws {
    try writeFileAtomically(path: path, bytes: Array(text.utf8), sync: true)
}

extension String {
    fileprivate func leftPaddedWithZeros(_ length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
