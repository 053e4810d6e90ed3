import KafkaProtocol
import NIOCore
import SluiceRaft

/// The controller on top of the metadata quorum (Kafka's QuorumController), with no sockets or
/// clock: every node applies committed records to its `image`; the node whose replica leads
/// the quorum is the active controller once it has applied everything in its log. It decides
/// requests against a working image (the committed one plus its own records not yet
/// committed, so two requests in flight never get the same producer ids or broker epoch),
/// appends the records through the quorum, and answers each request once its records commit.
/// Losing leadership fails what is pending with NOT_CONTROLLER and drops the working image.
/// One owner calls everything.
public final class QuorumController {
    public enum Request: Sendable {
        case registerBroker(ClusterControl.Registration)
        case heartbeat(ClusterControl.Heartbeat)
        case allocateProducerIds(brokerId: Int32, brokerEpoch: Int64)
        case createTopic(ReplicationControl.NewTopic)
        case deleteTopic(name: String)
        case createPartitions(topic: String, totalCount: Int, assignments: [[Int32]])
        /// Sets and removes a topic's config overrides (AlterConfigs and IncrementalAlterConfigs,
        /// resolved to explicit changes and validated by the broker that took the request).
        case alterTopicConfigs(topic: String, set: [String: String], delete: [String])
        case alterPartition(ReplicationControl.IsrChange)
        case electLeaders(ReplicationControl.ElectionType, partitions: [String: [Int32]]?)
        case alterReassignments([ReplicationControl.Reassignment])
        /// AlterUserScramCredentials, the salted passwords already checked for shape.
        case alterScramCredentials(AlterUserScramCredentialsRequest)
    }

    public enum Reply: Sendable, Equatable {
        case registered(brokerEpoch: Int64)
        case heartbeat(ClusterControl.HeartbeatReply)
        case producerIds(firstId: Int64, count: Int64)
        case topicCreated
        case topicDeleted
        case partitionsCreated
        case configsChanged
        case partitionAltered(PartitionRegistration)
        case leadersElected([ReplicationControl.ElectionResult])
        case reassignmentsAltered([ReplicationControl.ElectionResult])
        case scramCredentialsAltered([ScramControl.Result])
    }

    public typealias Completion = (Result<Reply, ControllerError>) -> Void

    public let raft: RaftReplica
    /// Everything committed, applied in order.
    public private(set) var image = MetadataImage()
    /// The next offset to apply.
    public private(set) var appliedOffset: Int64 = 0
    public private(set) var activeEpoch: Int32?
    /// Snapshot after this many records applied since the last one.
    public var snapshotEvery: Int64 = 10_000

    private var working = MetadataImage()
    private var cluster: ClusterControl
    private let replication: ReplicationControl
    private let producerIds = ProducerIdControl()
    private var pending: [(lastOffset: Int64, reply: Reply, completion: Completion)] = []
    private var placementStart = 0
    private var lastSnapshotOffset: Int64 = 0

    /// Kafka's auto.leader.rebalance.enable, leader.imbalance.check.interval.seconds (as ms here)
    /// and leader.imbalance.per.broker.percentage.
    public struct LeaderRebalance: Sendable {
        public var enabled: Bool
        public var intervalMs: Int64
        public var imbalancePercent: Int

        public init(enabled: Bool = true, intervalMs: Int64 = 300_000, imbalancePercent: Int = 10) {
            self.enabled = enabled
            self.intervalMs = intervalMs
            self.imbalancePercent = imbalancePercent
        }
    }

    private let rebalance: LeaderRebalance
    private var nextRebalanceMs: Int64?

    public init(raft: RaftReplica, clusterId: String, sessionTimeoutMs: Int64, uncleanLeaderElection: Bool = false,
                rebalance: LeaderRebalance = LeaderRebalance()) {
        self.raft = raft
        self.rebalance = rebalance
        replication = ReplicationControl(uncleanLeaderElectionDefault: uncleanLeaderElection)
        cluster = ClusterControl(clusterId: clusterId, sessionTimeoutMs: sessionTimeoutMs)
    }

    public var isActive: Bool { activeEpoch != nil }

    /// Call after anything that may have moved the quorum (handle, tick, append): applies what
    /// committed, takes or gives up the active role, answers what committed, fences brokers
    /// whose sessions ran out.
    public func poll(now: Int64) throws {
        try applyCommitted()
        if let epoch = activeEpoch, !raft.isLeader || raft.epoch != epoch {
            resign()
        }
        if activeEpoch == nil, raft.isLeader, appliedOffset == raft.logEndOffset {
            // Everything in this leader's log (its LeaderChangeMessage last) is committed and applied.
            activeEpoch = raft.epoch
            working = image
            cluster.becameActive(image: image, now: now)
        }
        while let first = pending.first, first.lastOffset < appliedOffset {
            pending.removeFirst()
            first.completion(.success(first.reply))
        }
        if isActive {
            let expired = cluster.expireSessions(image: working, now: now)
            if !expired.isEmpty { try append(derive(expired), now: now) }
            if rebalance.enabled {
                let due = nextRebalanceMs ?? (now + rebalance.intervalMs)
                if now >= due {
                    let moves = replication.rebalanceLeaders(image: working, imbalancePercent: rebalance.imbalancePercent)
                    if !moves.isEmpty { try append(derive(moves), now: now) }
                    nextRebalanceMs = now + rebalance.intervalMs
                } else {
                    nextRebalanceMs = due
                }
            }
        } else {
            nextRebalanceMs = nil
        }
        if appliedOffset - lastSnapshotOffset >= snapshotEvery, appliedOffset > raft.logStartOffset {
            try raft.createSnapshot(endOffset: appliedOffset, data: MetadataSnapshot.encode(image))
            lastSnapshotOffset = appliedOffset
        }
    }

    /// When the controller next has something to do on its own (a session may run out).
    public var nextDeadline: Int64? {
        guard isActive else { return nil }
        return [cluster.nextExpiry(image: working), rebalance.enabled ? nextRebalanceMs : nil].compactMap { $0 }.min()
    }

    public func submit(_ request: Request, now: Int64, completion: @escaping Completion) {
        guard isActive else {
            completion(.failure(ControllerError(.notController, "This node is not the active controller (leader \(raft.leaderId.map(String.init) ?? "unknown"))")))
            return
        }
        do {
            let (records, reply) = try decide(request, now: now)
            guard !records.isEmpty else {
                completion(.success(reply))
                return
            }
            let last = try append(records, now: now)
            pending.append((last, reply, completion))
        } catch let error as ControllerError {
            completion(.failure(error))
        } catch {
            completion(.failure(ControllerError(.unknownServerError, "\(error)")))
        }
    }

    private func decide(_ request: Request, now: Int64) throws -> ([MetadataRecordToWrite], Reply) {
        switch request {
        case .registerBroker(let registration):
            let (records, epoch) = try cluster.register(registration, image: working, nextOffset: raft.logEndOffset, now: now)
            return (try derive(records), .registered(brokerEpoch: epoch))
        case .heartbeat(let heartbeat):
            let (records, reply) = try cluster.heartbeat(heartbeat, image: working, now: now)
            return (try derive(records), .heartbeat(reply))
        case .allocateProducerIds(let brokerId, let brokerEpoch):
            let (records, first, count) = try producerIds.allocate(brokerId: brokerId, brokerEpoch: brokerEpoch, image: working)
            return (try derive(records), .producerIds(firstId: first, count: count))
        case .createTopic(let topic):
            placementStart += 1
            let records = try replication.createTopic(topic, image: working, start: placementStart)
            return (try derive(records), .topicCreated)
        case .deleteTopic(let name):
            return (try derive(replication.deleteTopic(named: name, image: working)), .topicDeleted)
        case .createPartitions(let topic, let totalCount, let assignments):
            placementStart += 1
            let records = try replication.createPartitions(topic: topic, totalCount: totalCount, assignments: assignments,
                                                           image: working, start: placementStart)
            return (try derive(records), .partitionsCreated)
        case .electLeaders(let type, let partitions):
            let (records, results) = replication.electLeaders(type, partitions: partitions, image: working)
            return (try derive(records), .leadersElected(results))
        case .alterReassignments(let wanted):
            let (records, results) = replication.alterReassignments(wanted, image: working)
            return (try derive(records), .reassignmentsAltered(results))
        case .alterPartition(let change):
            let (records, partition) = try replication.alterPartition(change, image: working)
            return (try derive(records), .partitionAltered(partition))
        case .alterScramCredentials(let request):
            let (records, results) = ScramControl.alter(request, current: working.scramCredentials)
            return (try derive(records), .scramCredentialsAltered(results))
        case .alterTopicConfigs(let topic, let set, let delete):
            guard working.topic(named: topic) != nil else {
                throw ControllerError(.unknownTopicOrPartition, "The topic '\(topic)' does not exist.")
            }
            let current = working.configs[.init(type: 2, name: topic)] ?? [:]
            var records: [MetadataRecordToWrite] = []
            for (name, value) in set.sorted(by: { $0.key < $1.key }) where current[name] != value {
                records.append(MetadataRecordToWrite(ConfigRecord(resourceType: 2, resourceName: topic, name: name, value: value), .config))
            }
            for name in Set(delete).sorted() where current[name] != nil && set[name] == nil {
                records.append(MetadataRecordToWrite(ConfigRecord(resourceType: 2, resourceName: topic, name: name, value: nil), .config))
            }
            return (try derive(records), .configsChanged)
        }
    }

    /// Applies records to the working image, adding what follows from them: partitions move
    /// when their broker is fenced or returns.
    private func derive(_ records: [MetadataRecordToWrite]) throws -> [MetadataRecordToWrite] {
        var all: [MetadataRecordToWrite] = []
        for record in records {
            try working.apply(record.record, type: record.type)
            all.append(record)
            var follows: [MetadataRecordToWrite] = []
            if let fence = record.record as? FenceBrokerRecord {
                follows = replication.brokerFenced(fence.id, image: working)
            } else if let unfence = record.record as? UnfenceBrokerRecord {
                follows = replication.brokerUnfenced(unfence.id, image: working)
            }
            for follow in follows {
                try working.apply(follow.record, type: follow.type)
                all.append(follow)
            }
        }
        return all
    }

    /// Appends through the quorum; returns the offset of the last record.
    @discardableResult
    private func append(_ records: [MetadataRecordToWrite], now: Int64) throws -> Int64 {
        let payloads = try records.map { try MetadataRecordFrame.encode($0.record, type: $0.type, version: $0.version) }
        let base = try raft.append(payloads, now: now)
        return base + Int64(payloads.count) - 1
    }

    private func applyCommitted() throws {
        while let read = raft.readCommitted(from: appliedOffset) {
            switch read {
            case .snapshot(let snapshot):
                image = try MetadataSnapshot.decode(snapshot.data)
                appliedOffset = snapshot.id.offset
                lastSnapshotOffset = appliedOffset
            case .records(let base, let records):
                precondition(base == appliedOffset, "metadata applied out of order: \(base) after \(appliedOffset)")
                for record in records {
                    if !record.isControl {
                        var buffer = ByteBuffer(bytes: record.payload)
                        let framed = try MetadataRecordFrame.read(from: &buffer)
                        try image.apply(framed.record, type: framed.type)
                    }
                    appliedOffset += 1
                }
            }
        }
    }

    private func resign() {
        activeEpoch = nil
        let failed = pending
        pending = []
        for entry in failed {
            entry.completion(.failure(ControllerError(.notController, "The active controller moved before the change committed")))
        }
    }
}
