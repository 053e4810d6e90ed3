import KafkaProtocol

/// A broker as the cluster's metadata knows it (RegisterBrokerRecord and what followed it).
public struct BrokerRegistration: Sendable, Equatable {
    public var id: Int32
    /// Changes at every registration (Kafka's broker epoch: the offset of its registration record).
    public var epoch: Int64
    public var incarnationId: KafkaUUID
    public var listeners: [ListenerEndpoint]
    public var rack: String?
    public var fenced: Bool
    public var inControlledShutdown: Bool

    public init(id: Int32, epoch: Int64, incarnationId: KafkaUUID, listeners: [ListenerEndpoint], rack: String?,
                fenced: Bool, inControlledShutdown: Bool = false) {
        self.id = id
        self.epoch = epoch
        self.incarnationId = incarnationId
        self.listeners = listeners
        self.rack = rack
        self.fenced = fenced
        self.inControlledShutdown = inControlledShutdown
    }

    /// Where this broker listens on the listener named `name`: where a client that came in on
    /// that listener reaches it (nil when it has none).
    public func endpoint(on name: String) -> ListenerEndpoint? {
        listeners.first { $0.name == name }
    }

    /// Where another broker reaches this one: its listener named `name`, else its first (a broker
    /// registers its inter-broker listener first).
    public func interBrokerEndpoint(_ name: String?) -> ListenerEndpoint? {
        name.flatMap(endpoint(on:)) ?? listeners.first
    }
}

/// One partition's placement and leadership (PartitionRecord, then PartitionChangeRecords).
public struct PartitionRegistration: Sendable, Equatable {
    public var replicas: [Int32]
    public var isr: [Int32]
    public var removingReplicas: [Int32]
    public var addingReplicas: [Int32]
    /// -1: no leader.
    public var leader: Int32
    public var leaderEpoch: Int32
    /// Moves at every change of this partition, so a stale AlterPartition is recognised.
    public var partitionEpoch: Int32
    public var recoveringFromUncleanElection: Bool

    public init(replicas: [Int32], isr: [Int32], leader: Int32, leaderEpoch: Int32 = 0, partitionEpoch: Int32 = 0,
                removingReplicas: [Int32] = [], addingReplicas: [Int32] = [], recoveringFromUncleanElection: Bool = false) {
        self.replicas = replicas
        self.isr = isr
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.partitionEpoch = partitionEpoch
        self.removingReplicas = removingReplicas
        self.addingReplicas = addingReplicas
        self.recoveringFromUncleanElection = recoveringFromUncleanElection
    }
}

public struct TopicMetadataImage: Sendable, Equatable {
    public var name: String
    public var id: KafkaUUID
    public var partitions: [Int32: PartitionRegistration]
}

/// The cluster's metadata as every node rebuilds it from the metadata log: brokers, topics and
/// partitions, configs, the next producer-id block and feature levels. Applying the same
/// records in the same order gives the same image on every node (Kafka's MetadataImage and
/// MetadataDelta in one value type), and users' SCRAM credentials. Records Sluice does not
/// model yet (ACLs, quotas, delegation tokens, transaction markers) are counted, not applied.
public struct MetadataImage: Sendable, Equatable {
    public struct ConfigResource: Hashable, Sendable {
        /// Kafka's ConfigResource.Type: 2 topic, 4 broker, 8 broker logger.
        public var type: Int8
        public var name: String

        public init(type: Int8, name: String) {
            self.type = type
            self.name = name
        }
    }

    public private(set) var brokers: [Int32: BrokerRegistration] = [:]
    public private(set) var topicsById: [KafkaUUID: TopicMetadataImage] = [:]
    public private(set) var topicIdsByName: [String: KafkaUUID] = [:]
    public private(set) var configs: [ConfigResource: [String: String]] = [:]
    public private(set) var nextProducerId: Int64 = 0
    public private(set) var features: [String: Int16] = [:]
    /// Users' SCRAM credentials, which every broker checks logins against.
    public private(set) var scramCredentials = UserScramCredentials()
    public private(set) var unmodelledRecords = 0

    public init() {}

    public func topic(named name: String) -> TopicMetadataImage? {
        topicIdsByName[name].flatMap { topicsById[$0] }
    }

    /// Brokers that may lead and be in an ISR: registered and not fenced.
    public var activeBrokers: [BrokerRegistration] {
        brokers.values.filter { !$0.fenced }.sorted { $0.id < $1.id }
    }

    /// Applies one record. A record that contradicts the image (a partition of an unknown topic,
    /// a topic name taken twice) throws: the log is wrong, and Kafka would stop too.
    public mutating func apply(_ record: any KafkaMessage, type: MetadataRecordType) throws {
        switch record {
        case let r as RegisterBrokerRecord:
            brokers[r.brokerId] = BrokerRegistration(
                id: r.brokerId, epoch: r.brokerEpoch, incarnationId: r.incarnationId,
                listeners: r.endPoints.map { ListenerEndpoint(name: $0.name, host: $0.host, port: Int($0.port)) },
                rack: r.rack, fenced: r.fenced, inControlledShutdown: r.inControlledShutdown)
        case let r as UnregisterBrokerRecord:
            if brokers[r.brokerId]?.epoch == r.brokerEpoch { brokers[r.brokerId] = nil }
        case let r as FenceBrokerRecord:
            try changeBroker(r.id, epoch: r.epoch) { $0.fenced = true }
        case let r as UnfenceBrokerRecord:
            try changeBroker(r.id, epoch: r.epoch) { $0.fenced = false }
        case let r as BrokerRegistrationChangeRecord:
            try changeBroker(r.brokerId, epoch: r.brokerEpoch) { broker in
                if r.fenced == 1 { broker.fenced = true } else if r.fenced == -1 { broker.fenced = false }
                if r.inControlledShutdown == 1 { broker.inControlledShutdown = true }
            }
        case let r as TopicRecord:
            guard topicIdsByName[r.name] == nil, topicsById[r.topicId] == nil else {
                throw MetadataImageError("topic \(r.name) (\(r.topicId)) is created twice")
            }
            topicsById[r.topicId] = TopicMetadataImage(name: r.name, id: r.topicId, partitions: [:])
            topicIdsByName[r.name] = r.topicId
        case let r as PartitionRecord:
            guard topicsById[r.topicId] != nil else { throw MetadataImageError("partition \(r.partitionId) of unknown topic \(r.topicId)") }
            topicsById[r.topicId]?.partitions[r.partitionId] = PartitionRegistration(
                replicas: r.replicas, isr: r.isr, leader: r.leader, leaderEpoch: r.leaderEpoch, partitionEpoch: r.partitionEpoch,
                removingReplicas: r.removingReplicas, addingReplicas: r.addingReplicas,
                recoveringFromUncleanElection: r.leaderRecoveryState == 1)
        case let r as PartitionChangeRecord:
            guard var partition = topicsById[r.topicId]?.partitions[r.partitionId] else {
                throw MetadataImageError("change of unknown partition \(r.topicId)-\(r.partitionId)")
            }
            partition.merge(r)
            topicsById[r.topicId]?.partitions[r.partitionId] = partition
        case let r as RemoveTopicRecord:
            guard let topic = topicsById.removeValue(forKey: r.topicId) else {
                throw MetadataImageError("removal of unknown topic \(r.topicId)")
            }
            topicIdsByName[topic.name] = nil
            configs[ConfigResource(type: 2, name: topic.name)] = nil
        case let r as ConfigRecord:
            let resource = ConfigResource(type: r.resourceType, name: r.resourceName)
            configs[resource, default: [:]][r.name] = r.value
            if configs[resource]?.isEmpty == true { configs[resource] = nil }
        case let r as ProducerIdsRecord:
            guard r.nextProducerId >= nextProducerId else {
                throw MetadataImageError("producer ids go back from \(nextProducerId) to \(r.nextProducerId)")
            }
            nextProducerId = r.nextProducerId
        case let r as FeatureLevelRecord:
            features[r.name] = r.featureLevel == 0 ? nil : r.featureLevel
        case is UserScramCredentialRecord, is RemoveUserScramCredentialRecord:
            scramCredentials.apply(record)
        case is NoOpRecord:
            break
        default:
            unmodelledRecords += 1
        }
    }

    private mutating func changeBroker(_ id: Int32, epoch: Int64, _ change: (inout BrokerRegistration) -> Void) throws {
        guard var broker = brokers[id] else { throw MetadataImageError("change of unregistered broker \(id)") }
        // A change for an earlier registration of this id is stale: the broker has registered again.
        guard broker.epoch == epoch else { return }
        change(&broker)
        brokers[id] = broker
    }
}

extension PartitionRegistration {
    /// Kafka's PartitionRegistration.merge: nil and -2 mean unchanged; a leader set moves the
    /// leader epoch; every change moves the partition epoch.
    mutating func merge(_ change: PartitionChangeRecord) {
        if let isr = change.isr { self.isr = isr }
        if let replicas = change.replicas { self.replicas = replicas }
        if let removing = change.removingReplicas { removingReplicas = removing }
        if let adding = change.addingReplicas { addingReplicas = adding }
        if change.leader != -2 {
            // Setting the leader, even to the same broker, starts a leader epoch: the controller
            // uses that to fence a leader's in-flight requests.
            leader = change.leader
            leaderEpoch += 1
        }
        if change.leaderRecoveryState != -1 { recoveringFromUncleanElection = change.leaderRecoveryState == 1 }
        partitionEpoch += 1
    }
}

public struct MetadataImageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
