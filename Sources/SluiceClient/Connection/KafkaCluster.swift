import KafkaProtocol
import Logging
import NIOCore
import NIOPosix

/// What the client knows about a topic from metadata.
public struct TopicMetadata: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var index: Int32
        public var leader: Int32
        public var leaderEpoch: Int32
        public var replicas: [Int32]
        public var inSyncReplicas: [Int32]
        public var error: KafkaErrorCode
    }

    public var name: String
    public var id: KafkaUUID
    public var isInternal: Bool
    public var partitions: [Partition]
}

/// The cluster as the client sees it: brokers, topic metadata, one connection per broker.
///
/// Connections are opened on first use and reopened after they fail, with exponential backoff
/// per broker. Metadata is refreshed on demand (unknown topic, NOT_LEADER_OR_FOLLOWER and
/// similar errors call `invalidate`) and when older than `metadataMaxAge`.
public actor KafkaCluster {
    public let config: KafkaClientConfig
    private let logger: Logger
    private let group: any EventLoopGroup
    private var brokers: [Int32: BrokerAddress] = [:]
    private var topics: [String: TopicMetadata] = [:]
    private var topicsFetchedAt: [String: ContinuousClock.Instant] = [:]
    public private(set) var clusterId: String?
    public private(set) var controllerId: Int32 = -1
    private var connections: [BrokerAddress: BrokerConnection] = [:]
    private var connecting: [BrokerAddress: Task<BrokerConnection, any Error>] = [:]
    private var failures: [BrokerAddress: (count: Int, retryAt: ContinuousClock.Instant)] = [:]
    private var closed = false

    static let metadataVersions: ClosedRange<Int16> = 1...12

    public init(config: KafkaClientConfig, logger: Logger = Logger(label: "sluice.client"),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.config = config
        self.logger = logger
        self.group = group
    }

    // MARK: Connections

    /// The connection to `address`, opening it (after any backoff) when needed.
    public func connection(to address: BrokerAddress) async throws -> BrokerConnection {
        guard !closed else { throw KafkaClientError(kind: .shutdown, message: "client closed") }
        if let existing = connections[address], existing.isActive { return existing }
        connections[address] = nil
        if let task = connecting[address] { return try await task.value }
        if let failure = failures[address], failure.retryAt > .now {
            try await Task.sleep(until: failure.retryAt)
        }
        let config = self.config
        let group = self.group
        let task = Task {
            try await BrokerConnection.connect(to: address, clientId: config.clientId, connectTimeout: config.connectTimeout,
                                               requestTimeout: config.requestTimeout, versionCaps: config.apiVersionCaps, sasl: config.sasl,
                                               group: group)
        }
        connecting[address] = task
        do {
            let connection = try await task.value
            connecting[address] = nil
            failures[address] = nil
            if closed {
                connection.close()
                throw KafkaClientError(kind: .shutdown, message: "client closed")
            }
            connections[address] = connection
            return connection
        } catch {
            connecting[address] = nil
            let count = (failures[address]?.count ?? 0) + 1
            let backoff = min(config.reconnectBackoff * (1 << min(count - 1, 16)), config.reconnectBackoffMax)
            failures[address] = (count, .now + backoff)
            logger.debug("connection failed", metadata: ["broker": "\(address)", "error": "\(error)"])
            throw error
        }
    }

    public func connection(toNode node: Int32) async throws -> BrokerConnection {
        if brokers[node] == nil { try await refreshMetadata(topics: []) }
        guard let address = brokers[node] else {
            throw KafkaClientError(kind: .connection, message: "broker \(node) is not in the cluster metadata")
        }
        return try await connection(to: address)
    }

    /// Any live broker: known ones first, then the bootstrap list.
    public func anyConnection() async throws -> BrokerConnection {
        if let live = connections.values.first(where: { $0.isActive }) { return live }
        var lastError: (any Error)?
        for address in Array(brokers.values) + config.bootstrapServers {
            do {
                return try await connection(to: address)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? KafkaClientError(kind: .connection, message: "no bootstrap servers")
    }

    // MARK: Metadata

    /// Asks for metadata of `topics` (nil: every topic) and remembers it.
    @discardableResult
    public func refreshMetadata(topics names: [String]?, allowAutoCreate: Bool = false) async throws -> MetadataResponse {
        let connection = try await anyConnection()
        let request = MetadataRequest(topics: names.map { $0.map { MetadataRequest.MetadataRequestTopic(topicId: .zero, name: $0) } },
                                      allowAutoTopicCreation: allowAutoCreate)
        let version = try connection.version(for: .metadata, clientRange: Self.metadataVersions)
        let response = try await connection.send(request, version: version, timeout: config.requestTimeout)
        apply(response)
        return response
    }

    private func apply(_ response: MetadataResponse) {
        var seen: [Int32: BrokerAddress] = [:]
        for broker in response.brokers {
            seen[broker.nodeId] = BrokerAddress(host: broker.host, port: Int(broker.port))
        }
        if !seen.isEmpty { brokers = seen }
        clusterId = response.clusterId
        controllerId = response.controllerId
        let now = ContinuousClock.now
        for topic in response.topics {
            guard let name = topic.name else { continue }
            let code = KafkaErrorCode(rawValue: topic.errorCode)
            if code == .unknownTopicOrPartition || code == .invalidTopicException {
                topics[name] = nil
                topicsFetchedAt[name] = nil
                continue
            }
            topics[name] = TopicMetadata(
                name: name, id: topic.topicId, isInternal: topic.isInternal,
                partitions: topic.partitions.sorted { $0.partitionIndex < $1.partitionIndex }.map {
                    .init(index: $0.partitionIndex, leader: $0.leaderId, leaderEpoch: $0.leaderEpoch, replicas: $0.replicaNodes,
                          inSyncReplicas: $0.isrNodes, error: KafkaErrorCode(rawValue: $0.errorCode))
                })
            topicsFetchedAt[name] = now
        }
    }

    /// The topic's metadata, fetched when unknown or stale; UNKNOWN_TOPIC_OR_PARTITION when the
    /// cluster does not have it.
    public func topic(_ name: String, allowAutoCreate: Bool = false) async throws -> TopicMetadata {
        if let known = topics[name], let at = topicsFetchedAt[name], ContinuousClock.now - at < config.metadataMaxAge,
           known.partitions.allSatisfy({ $0.leader >= 0 }) {
            return known
        }
        let response = try await refreshMetadata(topics: [name], allowAutoCreate: allowAutoCreate)
        if let known = topics[name], !known.partitions.isEmpty { return known }
        let code = response.topics.first { $0.name == name }.map { KafkaErrorCode(rawValue: $0.errorCode) } ?? .unknownTopicOrPartition
        throw KafkaClientError.broker(code == .none ? .leaderNotAvailable : code, "topic \(name)")
    }

    /// Forgets a topic's metadata so the next use refreshes it (after NOT_LEADER_OR_FOLLOWER,
    /// UNKNOWN_TOPIC_OR_PARTITION and similar answers).
    public func invalidate(topic name: String) {
        topicsFetchedAt[name] = nil
    }

    private var coordinators: [String: BrokerAddress] = [:]
    private var transactionCoordinators: [String: BrokerAddress] = [:]

    /// The group's coordinator (FindCoordinator), cached until `invalidateCoordinator`.
    public func coordinator(for group: String) async throws -> BrokerConnection {
        if let address = coordinators[group] { return try await connection(to: address) }
        let address = try await findCoordinator(group, keyType: 0)
        coordinators[group] = address
        return try await self.connection(to: address)
    }

    /// The transactional id's coordinator (FindCoordinator with key type 1), cached.
    public func transactionCoordinator(for transactionalId: String) async throws -> BrokerConnection {
        if let address = transactionCoordinators[transactionalId] { return try await connection(to: address) }
        let address = try await findCoordinator(transactionalId, keyType: 1)
        transactionCoordinators[transactionalId] = address
        return try await self.connection(to: address)
    }

    private func findCoordinator(_ key: String, keyType: Int8) async throws -> BrokerAddress {
        let connection = try await anyConnection()
        let version = try connection.version(for: .findCoordinator, clientRange: keyType == 0 ? 0...4 : 1...4)
        let request = version >= 4 ? FindCoordinatorRequest(keyType: keyType, coordinatorKeys: [key])
            : FindCoordinatorRequest(key: key, keyType: keyType)
        let response = try await connection.send(request, version: version, timeout: config.requestTimeout)
        let (code, host, port) = version >= 4
            ? (response.coordinators.first?.errorCode ?? KafkaErrorCode.coordinatorNotAvailable.rawValue,
               response.coordinators.first?.host ?? "", response.coordinators.first?.port ?? 0)
            : (response.errorCode, response.host, response.port)
        guard code == 0 else {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: code), "FindCoordinator for \(keyType == 0 ? "group" : "transactional id") \(key)")
        }
        return BrokerAddress(host: host, port: Int(port))
    }

    public func invalidateCoordinator(for group: String) {
        coordinators[group] = nil
    }

    public func invalidateTransactionCoordinator(for transactionalId: String) {
        transactionCoordinators[transactionalId] = nil
    }

    public func knownBrokers() -> [Int32: BrokerAddress] { brokers }

    /// Closes every connection; later calls fail with `.shutdown`.
    public func close() {
        closed = true
        for connection in connections.values { connection.close() }
        connections.removeAll()
        for task in connecting.values { task.cancel() }
    }
}
