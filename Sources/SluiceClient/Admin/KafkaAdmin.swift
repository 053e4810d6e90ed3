import KafkaProtocol
import Logging
import NIOCore

/// One topic to create.
public struct NewTopic: Sendable {
    public var name: String
    /// -1 takes the broker's `num.partitions`.
    public var partitions: Int32
    /// -1 takes the broker's `default.replication.factor`.
    public var replicationFactor: Int16
    public var configs: [String: String]

    public init(name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// A topic config as DescribeConfigs reports it.
public struct ConfigEntry: Sendable, Hashable {
    public var name: String
    public var value: String?
    public var isDefault: Bool
    public var isReadOnly: Bool
    public var isSensitive: Bool
    /// Kafka's ConfigSource: 1 topic, 4 static broker config, 5 default.
    public var source: Int8
}

/// Where to look an offset up (ListOffsets).
public struct OffsetSpec: Sendable, Hashable {
    let timestamp: Int64
    public static let earliest = OffsetSpec(timestamp: -2)
    public static let latest = OffsetSpec(timestamp: -1)
    /// The first offset whose record timestamp is at or after `milliseconds`.
    public static func timestamp(_ milliseconds: Int64) -> OffsetSpec { OffsetSpec(timestamp: milliseconds) }
}

/// A group as ListGroups reports it.
public struct GroupListing: Sendable, Hashable {
    public var groupId: String
    public var protocolType: String
    public var state: String
}

/// A group as DescribeGroups reports it.
public struct GroupDescription: Sendable {
    public struct Member: Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        /// For consumer groups: the partitions assigned, decoded from the assignment.
        public var assignment: [TopicPartition]
    }

    public var groupId: String
    public var state: String
    public var protocolType: String
    public var protocolName: String
    public var members: [Member]
}

/// A partition of a topic.
public struct TopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.topic == rhs.topic ? lhs.partition < rhs.partition : lhs.topic < rhs.topic
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A committed offset as OffsetFetch returns it.
public struct CommittedOffset: Sendable, Hashable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String
}

/// The admin client: topics, configs, groups, offsets. Every call fails with a
/// `KafkaClientError` carrying Kafka's error code.
public final class KafkaAdmin: Sendable {
    public let cluster: KafkaCluster
    private let timeoutMs: Int32

    public init(config: KafkaClientConfig, logger: Logger = Logger(label: "sluice.admin")) {
        cluster = KafkaCluster(config: config, logger: logger)
        timeoutMs = Int32(clamping: config.requestTimeout.milliseconds)
    }

    public func close() async {
        await cluster.close()
    }

    var requestTimeout: Duration { cluster.config.requestTimeout }

    private func controller() async throws -> BrokerConnection {
        try await cluster.refreshMetadata(topics: [])
        let controller = await cluster.controllerId
        if controller >= 0, let connection = try? await cluster.connection(toNode: controller) { return connection }
        return try await cluster.anyConnection()
    }

    // MARK: Topics

    /// Creates topics; the result per topic is nil (created) or its error.
    public func createTopics(_ topics: [NewTopic], validateOnly: Bool = false) async throws -> [String: KafkaClientError?] {
        let request = CreateTopicsRequest(
            topics: topics.map {
                .init(name: $0.name, numPartitions: $0.partitions, replicationFactor: $0.replicationFactor, assignments: [],
                      configs: $0.configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
            },
            timeoutMs: timeoutMs, validateOnly: validateOnly)
        let (response, _) = try await controller().send(request, versions: 2...7, timeout: requestTimeout)
        var results: [String: KafkaClientError?] = [:]
        for topic in response.topics {
            results[topic.name] = topic.errorCode == 0 ? nil
                : KafkaClientError.broker(KafkaErrorCode(rawValue: topic.errorCode), topic.errorMessage ?? "topic \(topic.name)")
        }
        return results
    }

    /// Creates one topic, throwing its error.
    public func createTopic(_ topic: NewTopic) async throws {
        if let error = try await createTopics([topic])[topic.name] ?? nil { throw error }
    }

    public func deleteTopics(_ names: [String]) async throws -> [String: KafkaClientError?] {
        let connection = try await controller()
        let version = try connection.version(for: .deleteTopics, clientRange: 1...6)
        let request = version >= 6
            ? DeleteTopicsRequest(topics: names.map { .init(name: $0, topicId: .zero) }, timeoutMs: timeoutMs)
            : DeleteTopicsRequest(topicNames: names, timeoutMs: timeoutMs)
        let response = try await connection.send(request, version: version, timeout: requestTimeout)
        var results: [String: KafkaClientError?] = [:]
        for result in response.responses {
            guard let name = result.name else { continue }
            results[name] = result.errorCode == 0 ? nil
                : KafkaClientError.broker(KafkaErrorCode(rawValue: result.errorCode), result.errorMessage ?? "topic \(name)")
            await cluster.invalidate(topic: name)
        }
        return results
    }

    public func deleteTopic(_ name: String) async throws {
        if let error = try await deleteTopics([name])[name] ?? nil { throw error }
    }

    /// Every topic (internal ones only when asked), sorted by name.
    public func listTopics(includeInternal: Bool = false) async throws -> [TopicMetadata] {
        let response = try await cluster.refreshMetadata(topics: nil)
        return response.topics.compactMap { topic -> TopicMetadata? in
            guard let name = topic.name, topic.errorCode == 0, includeInternal || !topic.isInternal else { return nil }
            return TopicMetadata(name: name, id: topic.topicId, isInternal: topic.isInternal,
                                 partitions: topic.partitions.sorted { $0.partitionIndex < $1.partitionIndex }.map {
                                     .init(index: $0.partitionIndex, leader: $0.leaderId, leaderEpoch: $0.leaderEpoch,
                                           replicas: $0.replicaNodes, inSyncReplicas: $0.isrNodes,
                                           error: KafkaErrorCode(rawValue: $0.errorCode))
                                 })
        }.sorted { $0.name < $1.name }
    }

    public func describeTopic(_ name: String) async throws -> TopicMetadata {
        await cluster.invalidate(topic: name)
        return try await cluster.topic(name)
    }

    /// Grows a topic to `totalCount` partitions.
    public func createPartitions(topic: String, totalCount: Int32) async throws {
        let request = CreatePartitionsRequest(topics: [.init(name: topic, count: totalCount, assignments: nil)], timeoutMs: timeoutMs)
        let (response, _) = try await controller().send(request, versions: 0...3, timeout: requestTimeout)
        if let result = response.results.first, result.errorCode != 0 {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: result.errorCode), result.errorMessage ?? "topic \(topic)")
        }
        await cluster.invalidate(topic: topic)
    }

    // MARK: Configs

    static let topicResource: Int8 = 2

    public func describeTopicConfigs(_ topic: String, keys: [String]? = nil) async throws -> [ConfigEntry] {
        let request = DescribeConfigsRequest(resources: [.init(resourceType: Self.topicResource, resourceName: topic, configurationKeys: keys)])
        let (response, _) = try await cluster.anyConnection().send(request, versions: 1...4, timeout: requestTimeout)
        guard let result = response.results.first else { return [] }
        guard result.errorCode == 0 else {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: result.errorCode), result.errorMessage ?? "topic \(topic)")
        }
        return result.configs.map {
            ConfigEntry(name: $0.name, value: $0.value, isDefault: $0.isDefault || $0.configSource == 5, isReadOnly: $0.readOnly,
                        isSensitive: $0.isSensitive, source: $0.configSource)
        }.sorted { $0.name < $1.name }
    }

    /// Sets (a value) or deletes (nil: back to the default) topic configs, leaving others as they are.
    public func alterTopicConfigs(_ topic: String, _ changes: [String: String?]) async throws {
        let request = IncrementalAlterConfigsRequest(resources: [.init(
            resourceType: Self.topicResource, resourceName: topic,
            configs: changes.sorted { $0.key < $1.key }.map { .init(name: $0.key, configOperation: $0.value == nil ? 1 : 0, value: $0.value) })])
        let (response, _) = try await cluster.anyConnection().send(request, versions: 0...1, timeout: requestTimeout)
        if let result = response.responses.first, result.errorCode != 0 {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: result.errorCode), result.errorMessage ?? "topic \(topic)")
        }
    }

    // MARK: Offsets

    /// ListOffsets for each partition of `topic` (all of them when `partitions` is nil).
    public func listOffsets(topic: String, partitions: [Int32]? = nil, spec: OffsetSpec) async throws -> [Int32: Int64] {
        let metadata = try await cluster.topic(topic)
        let wanted = partitions ?? metadata.partitions.map(\.index)
        var byLeader: [Int32: [Int32]] = [:]
        for index in wanted {
            guard let partition = metadata.partitions.first(where: { $0.index == index }) else {
                throw KafkaClientError.broker(.unknownTopicOrPartition, "\(topic)[\(index)]")
            }
            byLeader[partition.leader, default: []].append(index)
        }
        var offsets: [Int32: Int64] = [:]
        for (leader, indexes) in byLeader {
            let request = ListOffsetsRequest(replicaId: -1, topics: [.init(name: topic, partitions: indexes.map {
                .init(partitionIndex: $0, currentLeaderEpoch: -1, timestamp: spec.timestamp)
            })])
            let (response, _) = try await cluster.connection(toNode: leader).send(request, versions: 1...8, timeout: requestTimeout)
            for partition in response.topics.flatMap(\.partitions) {
                guard partition.errorCode == 0 else {
                    await cluster.invalidate(topic: topic)
                    throw KafkaClientError.broker(KafkaErrorCode(rawValue: partition.errorCode), "\(topic)[\(partition.partitionIndex)]")
                }
                offsets[partition.partitionIndex] = partition.offset
            }
        }
        return offsets
    }

    /// DeleteRecords: every record before the given offset (per partition) goes. Returns the
    /// new log start offsets.
    public func deleteRecords(topic: String, before offsets: [Int32: Int64]) async throws -> [Int32: Int64] {
        let metadata = try await cluster.topic(topic)
        var result: [Int32: Int64] = [:]
        for (leader, entries) in Dictionary(grouping: offsets, by: { entry in metadata.partitions.first { $0.index == entry.key }?.leader ?? -1 }) {
            let request = DeleteRecordsRequest(topics: [.init(name: topic, partitions: entries.map { .init(partitionIndex: $0.key, offset: $0.value) })],
                                               timeoutMs: timeoutMs)
            let connection = leader >= 0 ? try await cluster.connection(toNode: leader) : try await cluster.anyConnection()
            let (response, _) = try await connection.send(request, versions: 0...2, timeout: requestTimeout)
            for partition in response.topics.flatMap(\.partitions) {
                guard partition.errorCode == 0 else {
                    throw KafkaClientError.broker(KafkaErrorCode(rawValue: partition.errorCode), "\(topic)[\(partition.partitionIndex)]")
                }
                result[partition.partitionIndex] = partition.lowWatermark
            }
        }
        return result
    }

    // MARK: Groups

    public func listGroups(states: [String] = []) async throws -> [GroupListing] {
        var all: [GroupListing] = []
        try await cluster.refreshMetadata(topics: [])
        for (node, _) in await cluster.knownBrokers() {
            // The state filter exists from v4; asking an older broker for it fails clearly instead.
            let (response, _) = try await cluster.connection(toNode: node).send(ListGroupsRequest(statesFilter: states),
                                                                                  versions: states.isEmpty ? 0...4 : 4...4,
                                                                                  timeout: requestTimeout)
            guard response.errorCode == 0 else { throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode), "ListGroups") }
            all += response.groups.map { GroupListing(groupId: $0.groupId, protocolType: $0.protocolType, state: $0.groupState) }
        }
        return all.sorted { $0.groupId < $1.groupId }
    }

    public func describeGroup(_ groupId: String) async throws -> GroupDescription {
        let connection = try await cluster.coordinator(for: groupId)
        let (response, _) = try await connection.send(DescribeGroupsRequest(groups: [groupId]), versions: 0...5, timeout: requestTimeout)
        guard let group = response.groups.first else { throw KafkaClientError(kind: .protocolViolation, message: "empty DescribeGroups answer") }
        guard group.errorCode == 0 else { throw KafkaClientError.broker(KafkaErrorCode(rawValue: group.errorCode), "group \(groupId)") }
        return GroupDescription(
            groupId: groupId, state: group.groupState, protocolType: group.protocolType, protocolName: group.protocolData,
            members: group.members.map {
                .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId, clientHost: $0.clientHost,
                      assignment: group.protocolType == "consumer" ? ConsumerProtocol.decodeAssignment($0.memberAssignment) : [])
            })
    }

    public func deleteGroups(_ groupIds: [String]) async throws -> [String: KafkaClientError?] {
        var results: [String: KafkaClientError?] = [:]
        for groupId in groupIds {
            let connection = try await cluster.coordinator(for: groupId)
            let (response, _) = try await connection.send(DeleteGroupsRequest(groupsNames: [groupId]), versions: 0...2, timeout: requestTimeout)
            for result in response.results {
                results[result.groupId] = result.errorCode == 0 ? nil
                    : KafkaClientError.broker(KafkaErrorCode(rawValue: result.errorCode), "group \(result.groupId)")
            }
        }
        return results
    }

    /// A group's committed offsets (all of them, or of `partitions`); -1 means none committed.
    public func committedOffsets(group: String, partitions: [TopicPartition]? = nil) async throws -> [TopicPartition: CommittedOffset] {
        let connection = try await cluster.coordinator(for: group)
        let byTopic = partitions.map { Dictionary(grouping: $0, by: \.topic) }
        let request = OffsetFetchRequest(groupId: group, topics: byTopic.map {
            $0.sorted { $0.key < $1.key }.map { .init(name: $0.key, partitionIndexes: $0.value.map(\.partition)) }
        })
        let (response, _) = try await connection.send(request, versions: 2...7, timeout: requestTimeout)
        guard response.errorCode == 0 else { throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode), "group \(group)") }
        var result: [TopicPartition: CommittedOffset] = [:]
        for topic in response.topics {
            for partition in topic.partitions {
                guard partition.errorCode == 0 else {
                    throw KafkaClientError.broker(KafkaErrorCode(rawValue: partition.errorCode), "\(topic.name)[\(partition.partitionIndex)]")
                }
                result[TopicPartition(topic.name, partition.partitionIndex)] = CommittedOffset(
                    offset: partition.committedOffset, leaderEpoch: partition.committedLeaderEpoch, metadata: partition.metadata ?? "")
            }
        }
        return result
    }

    /// Commits offsets for a group without joining it (generation -1): how `group
    /// reset-offsets` works; the group must have no active members.
    public func commitOffsets(group: String, _ offsets: [TopicPartition: Int64]) async throws {
        try await KafkaAdminCalls(cluster: cluster).commit(group: group, offsets)
    }
}
