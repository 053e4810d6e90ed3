import KafkaProtocol
import SluiceStorage
import Synchronization

/// What the metadata says of one partition's replication: who leads it, from which epoch, and
/// which brokers hold it (Kafka's PartitionRecord / PartitionChangeRecord fields). A broker
/// alone leads every partition at epoch 0; the controller sets these once there is a cluster.
public struct PartitionState: Sendable, Equatable {
    public var leader: Int32
    public var leaderEpoch: Int32
    /// Bumped on every change of the state (Kafka's partition epoch).
    public var partitionEpoch: Int32
    public var replicas: [Int32]
    public var isr: [Int32]

    public init(leader: Int32, leaderEpoch: Int32, partitionEpoch: Int32, replicas: [Int32], isr: [Int32]) {
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.partitionEpoch = partitionEpoch
        self.replicas = replicas
        self.isr = isr
    }

    /// Before the metadata image names a leader: nobody leads, and any partition epoch the
    /// image has replaces it.
    public static let unknown = PartitionState(leader: -1, leaderEpoch: -1, partitionEpoch: -1, replicas: [], isr: [])

    /// One broker that is the partition's only replica.
    public static func soleReplica(_ node: Int32) -> PartitionState {
        PartitionState(leader: node, leaderEpoch: 0, partitionEpoch: 0, replicas: [node], isr: [node])
    }
}

/// A partition of a topic on this broker: its replication state and its log, and the one place
/// that answers whether this broker may serve a request for it, with Kafka's errors — as Kafka's
/// Partition sits between ReplicaManager and UnifiedLog. Handlers ask it for the log; none of
/// them decides leadership or reaches the log around it.
///
/// The log belongs to `owner` (the partition's event loop): call `leaderLog` and
/// `logForAppend` there. The state may be read anywhere (Metadata answers from it).
public final class Partition: @unchecked Sendable {
    // @unchecked: the identity is immutable, the state behind a lock, the log confined to `owner`.
    public let topic: String
    public let topicId: KafkaUUID
    public let index: Int32
    public let owner: any LogOwnerExecutor
    public let localBroker: Int32
    /// nil when the log could not be opened: the partition is offline here but keeps its index
    /// (a topic's partitions never shift onto one another's logs).
    public let log: PartitionLog?
    /// Why the log could not be opened.
    public let offlineReason: String?
    private let currentState: Mutex<PartitionState>
    public var state: PartitionState { currentState.withLock { $0 } }
    let environment: ReplicationEnvironment
    /// The topic's min.insync.replicas (the registry keeps it current).
    private let minInsync = Atomic<Int>(1)
    public var minInsyncReplicas: Int {
        get { minInsync.load(ordering: .relaxed) }
        set { minInsync.store(newValue, ordering: .relaxed) }
    }
    /// Replication on this broker: confined to `owner` (Partition+Replication).
    var replication = ReplicationState()

    init(topic: String, topicId: KafkaUUID, index: Int32, owner: any LogOwnerExecutor, localBroker: Int32,
         log: PartitionLog?, offlineReason: String? = nil, state: PartitionState? = nil,
         replication environment: ReplicationEnvironment = .standalone) {
        self.topic = topic
        self.topicId = topicId
        self.index = index
        self.owner = owner
        self.localBroker = localBroker
        self.log = log
        self.offlineReason = offlineReason
        self.environment = environment
        self.currentState = Mutex(state ?? .soleReplica(localBroker))
        if state != nil, log != nil { stateChangedSoon() }
    }

    public var isLeader: Bool { state.leader == localBroker }
    public var isOffline: Bool { log == nil }

    /// The log, when this broker may serve a client's request for the partition (Kafka's
    /// Partition.localLogWithEpochOrThrow with requireLeader): a CurrentLeaderEpoch behind the
    /// partition's is FENCED_LEADER_EPOCH, one ahead of it UNKNOWN_LEADER_EPOCH (-1 skips the
    /// check: Produce, DeleteRecords, old versions); a partition led elsewhere is
    /// NOT_LEADER_OR_FOLLOWER; a log that could not be opened is KAFKA_STORAGE_ERROR.
    public func leaderLog(currentLeaderEpoch: Int32 = -1) -> Result<PartitionLog, KafkaErrorCode> {
        let state = self.state
        if currentLeaderEpoch != -1 {
            if currentLeaderEpoch > state.leaderEpoch { return .failure(.unknownLeaderEpoch) }
            if currentLeaderEpoch < state.leaderEpoch { return .failure(.fencedLeaderEpoch) }
        }
        guard state.leader == localBroker else { return .failure(.notLeaderOrFollower) }
        guard let log else { return .failure(.kafkaStorageError) }
        // Done here, on the log's owner, so no append can slip in under the old epoch.
        guard adoptLeaderEpoch(state, of: log) else { return .failure(.kafkaStorageError) }
        return .success(log)
    }

    /// The log, when this broker holds a replica of the partition and may serve a consumer from
    /// it (KIP-392: a follower serves consumers that name their rack, never past its own high
    /// watermark). The same epoch checks as `leaderLog`; a broker with no replica here is
    /// NOT_LEADER_OR_FOLLOWER.
    public func replicaLog(currentLeaderEpoch: Int32 = -1) -> Result<PartitionLog, KafkaErrorCode> {
        let state = self.state
        guard state.leader != localBroker else { return leaderLog(currentLeaderEpoch: currentLeaderEpoch) }
        if currentLeaderEpoch != -1 {
            if currentLeaderEpoch > state.leaderEpoch { return .failure(.unknownLeaderEpoch) }
            if currentLeaderEpoch < state.leaderEpoch { return .failure(.fencedLeaderEpoch) }
        }
        guard state.replicas.contains(localBroker), state.leader >= 0 else { return .failure(.notLeaderOrFollower) }
        guard let log else { return .failure(.kafkaStorageError) }
        return .success(log)
    }

    /// Leadership came with a new epoch from the metadata: batches appended from here on carry
    /// it and the epoch cache starts it at the log end (Kafka's makeLeader). On `owner`; false
    /// when the epoch cache could not be written.
    private func adoptLeaderEpoch(_ state: PartitionState, of log: PartitionLog) -> Bool {
        guard state.leader == localBroker, log.leaderEpoch < state.leaderEpoch else { return true }
        do {
            try log.becomeLeader(epoch: state.leaderEpoch)
            return true
        } catch {
            return false
        }
    }

    /// Writes a new leader epoch of this broker's to the epoch cache at once, not only at the next
    /// request (OffsetForLeaderEpoch must answer with it), then takes up the partition's new
    /// role in replication.
    private func stateChangedSoon() {
        guard let log else { return }
        owner.execute { [self] in
            _ = adoptLeaderEpoch(state, of: log)
            roleChanged()
        }
    }

    /// The log for a producer's append (Kafka's Partition.appendRecordsToLeader): a leader's,
    /// and for acks=all only while at least `minInsyncReplicas` replicas are in sync
    /// (NOT_ENOUGH_REPLICAS, checked before the records are).
    public func logForAppend(acks: Int16, minInsyncReplicas: Int) -> Result<PartitionLog, TopicError> {
        switch leaderLog() {
        case .failure(let code):
            return .failure(TopicError(code: code, message: code == .kafkaStorageError
                ? "partition offline: \(offlineReason ?? "")" : "This server is not the leader for that topic-partition."))
        case .success(let log):
            let state = self.state
            if acks == -1 && state.isr.count < minInsyncReplicas {
                let isr = "Set(" + state.isr.map(String.init).joined(separator: ", ") + ")"
                return .failure(TopicError(code: .notEnoughReplicas, message:
                    "The size of the current ISR \(isr) is insufficient to satisfy the min.isr requirement of \(minInsyncReplicas) for partition \(topic)-\(index)"))
            }
            return .success(log)
        }
    }

    /// Takes a new state from the metadata (the controller's, once there is one); an older
    /// partition epoch is ignored.
    public func update(_ newState: PartitionState) {
        let applied = currentState.withLock { state -> Bool in
            guard newState.partitionEpoch >= state.partitionEpoch else { return false }
            state = newState
            return true
        }
        if applied { stateChangedSoon() }
    }
}
