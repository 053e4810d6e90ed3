import KafkaProtocol
import Logging
import NIOCore
import SluiceCore
import SluiceRaft

/// What the controller listener serves (Kafka's ControllerApis): the quorum's own RPCs, the
/// brokers' registration, heartbeats and producer-id blocks, and the topic changes brokers
/// forward. Only ApiVersions and these; anything else closes the connection, as Kafka does.
enum ControllerApis {
    static let ranges: [(ApiKey, ClosedRange<Int16>)] = [
        (.apiVersions, 0...4),
        (.vote, RaftWire.voteVersion...RaftWire.voteVersion),
        (.beginQuorumEpoch, RaftWire.beginQuorumEpochVersion...RaftWire.beginQuorumEpochVersion),
        (.endQuorumEpoch, RaftWire.endQuorumEpochVersion...RaftWire.endQuorumEpochVersion),
        (.fetch, RaftWire.fetchVersion...RaftWire.fetchVersion),
        (.fetchSnapshot, RaftWire.fetchSnapshotVersion...RaftWire.fetchSnapshotVersion),
        (.describeQuorum, 0...1),
        (.brokerRegistration, 0...4),
        (.brokerHeartbeat, 0...1),
        (.allocateProducerIds, 0...0),
        (.alterPartition, 0...3),
        (.electLeaders, 0...2),
        (.alterPartitionReassignments, 0...0),
        (.createTopics, 2...7),
        (.deleteTopics, 1...6),
        (.createPartitions, 0...3),
        (.incrementalAlterConfigs, 1...1),
        (.alterUserScramCredentials, 0...0),
    ]

    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let key = request.frame.apiKey
        if key == .apiVersions { return ApiVersionsHandler.handle(request, ranges: ranges) }
        guard let range = ranges.first(where: { $0.0 == key })?.1 else {
            throw CloseConnection(reason: "API key \(key.rawValue) is not served on the controller listener")
        }
        guard range.contains(request.version) else {
            throw CloseConnection(reason: "unsupported version \(request.version) of \(key) on the controller listener (supported \(range))")
        }
        guard let cluster = request.broker.cluster else { throw CloseConnection(reason: "this node is not part of a quorum") }
        let quorum = cluster.quorum
        switch key {
        case .vote:
            let body = try request.decode(VoteRequest.self)
            if let refused = refuseOtherCluster(body.clusterId, quorum, request) { return request.respond(VoteResponse(errorCode: refused)) }
            return forward(try RaftWire.message(body, requestId: 0), quorum, request) { (message: RaftMessage) -> VoteResponse? in
                guard case .voteResponse(let answer) = message else { return nil }
                return RaftWire.voteResponse(answer)
            }
        case .beginQuorumEpoch:
            let body = try request.decode(BeginQuorumEpochRequest.self)
            if let refused = refuseOtherCluster(body.clusterId, quorum, request) {
                return request.respond(BeginQuorumEpochResponse(errorCode: refused))
            }
            return forward(try RaftWire.message(body, requestId: 0), quorum, request) { (message: RaftMessage) -> BeginQuorumEpochResponse? in
                guard case .beginQuorumEpochResponse(let answer) = message else { return nil }
                return RaftWire.beginQuorumEpochResponse(answer)
            }
        case .endQuorumEpoch:
            let body = try request.decode(EndQuorumEpochRequest.self)
            if let refused = refuseOtherCluster(body.clusterId, quorum, request) {
                return request.respond(EndQuorumEpochResponse(errorCode: refused))
            }
            return forward(try RaftWire.message(body, requestId: 0), quorum, request) { (message: RaftMessage) -> EndQuorumEpochResponse? in
                guard case .endQuorumEpochResponse(let answer) = message else { return nil }
                return RaftWire.endQuorumEpochResponse(answer)
            }
        case .fetch:
            let body = try request.decode(FetchRequest.self)
            if let refused = refuseOtherCluster(body.clusterId, quorum, request) { return request.respond(FetchResponse(errorCode: refused)) }
            return forward(try RaftWire.message(body, requestId: 0), quorum, request) { (message: RaftMessage) -> FetchResponse? in
                guard case .fetchResponse(let answer) = message else { return nil }
                return try? RaftWire.fetchResponse(answer)
            }
        case .fetchSnapshot:
            let body = try request.decode(FetchSnapshotRequest.self)
            if let refused = refuseOtherCluster(body.clusterId, quorum, request) {
                return request.respond(FetchSnapshotResponse(errorCode: refused))
            }
            return forward(try RaftWire.message(body, requestId: 0), quorum, request) { (message: RaftMessage) -> FetchSnapshotResponse? in
                guard case .fetchSnapshotResponse(let answer) = message else { return nil }
                return RaftWire.fetchSnapshotResponse(answer)
            }
        case .describeQuorum:
            _ = try request.decode(DescribeQuorumRequest.self)
            return request.respond(DescribeQuorumAnswer.response(quorum.status, voters: quorum.voters, version: request.version))
        case .brokerRegistration: return try BrokerRegistrationApi.handle(request, quorum: quorum)
        case .brokerHeartbeat: return try BrokerHeartbeatApi.handle(request, quorum: quorum)
        case .allocateProducerIds: return try AllocateProducerIdsApi.handle(request, quorum: quorum)
        case .alterPartition: return try AlterPartitionApi.handle(request, quorum: quorum)
        case .electLeaders: return try ElectLeadersApi.handle(request, quorum: quorum)
        case .alterPartitionReassignments: return try ReassignmentApi.handle(request, quorum: quorum)
        case .createTopics: return try ControllerTopicApis.createTopics(request, quorum: quorum)
        case .deleteTopics: return try ControllerTopicApis.deleteTopics(request, quorum: quorum)
        case .createPartitions: return try ControllerTopicApis.createPartitions(request, quorum: quorum)
        case .incrementalAlterConfigs: return try ControllerTopicApis.alterTopicConfigs(request, quorum: quorum)
        case .alterUserScramCredentials: return try ScramCredentialsHandlers.alterOnController(request, quorum: quorum)
        default: throw CloseConnection(reason: "no controller handler for \(key)")
        }
    }

    /// Kafka answers a quorum request from another cluster with INCONSISTENT_CLUSTER_ID (and
    /// logs it): two clusters' nodes given one another's addresses must never mix their logs.
    private static func refuseOtherCluster(_ clusterId: String?, _ quorum: QuorumHost, _ request: RequestContext) -> Int16? {
        guard let clusterId, clusterId != quorum.clusterId else { return nil }
        request.logger.error("refused a quorum request from another cluster", metadata: [
            "api": "\(request.frame.apiKey)", "theirClusterId": "\(clusterId)", "ourClusterId": "\(quorum.clusterId)"])
        return KafkaErrorCode.inconsistentClusterId.rawValue
    }

    /// Hands a quorum request to the core and answers with what it says. INCONSISTENT_VOTER_SET
    /// is logged here: it means this node's controller.quorum.voters and the sender's disagree.
    private static func forward<R: KafkaResponse>(_ decoded: (RaftMessage, source: Int32), _ quorum: QuorumHost, _ request: RequestContext,
                                                  encode: @escaping @Sendable (RaftMessage) -> R?) -> EventLoopFuture<OutgoingResponse?> {
        let (message, source) = decoded
        let logger = request.logger
        return quorum.receive(message, from: source).hop(to: request.eventLoop).flatMap { answer in
            if answer.errorCode == .inconsistentVoterSet {
                logger.error("a node outside this node's voter set sent a quorum request: controller.quorum.voters differ between them",
                             metadata: ["sender": "\(source)", "request": "\(message.kindName)",
                                        "voters": "\(quorum.voters.map(\.description).joined(separator: ","))"])
            }
            guard let response = encode(answer) else {
                return request.eventLoop.makeFailedFuture(CloseConnection(reason: "the quorum answered \(answer.kindName) to \(message.kindName)"))
            }
            return request.respond(response)
        }
    }
}

extension RaftMessage {
    /// The error a response carries.
    var errorCode: KafkaErrorCode? {
        switch self {
        case .voteResponse(let m): return m.error
        case .beginQuorumEpochResponse(let m): return m.error
        case .endQuorumEpochResponse(let m): return m.error
        case .fetchResponse(let m): return m.error
        case .fetchSnapshotResponse(let m): return m.error
        default: return nil
        }
    }
}

/// DescribeQuorum as the leader sees the quorum; another node answers NOT_LEADER_OR_FOLLOWER
/// with the leader it knows, as Kafka does.
enum DescribeQuorumAnswer {
    static func response(_ status: QuorumStatus, voters: [QuorumVoter], version: Int16) -> DescribeQuorumResponse {
        guard status.role == .leader else {
            return DescribeQuorumResponse(errorCode: 0, topics: [.init(topicName: RaftWire.topicName, partitions: [.init(
                partitionIndex: 0, errorCode: KafkaErrorCode.notLeaderOrFollower.rawValue,
                leaderId: status.leaderId ?? -1, leaderEpoch: status.epoch, highWatermark: -1)])])
        }
        let nowMs = QuorumHost.monotonicMs()
        // The core keeps times on the monotonic clock; DescribeQuorum reports wall-clock times.
        let toWall: (Int64) -> Int64 = { $0 < 0 ? -1 : wallClockMilliseconds() - (nowMs - $0) }
        func state(_ report: ReplicaProgressReport) -> DescribeQuorumResponse.ReplicaState {
            .init(replicaId: report.replicaId, logEndOffset: report.logEndOffset,
                  lastFetchTimestamp: report.replicaId == status.leaderId ? wallClockMilliseconds() : toWall(report.lastFetchTimestamp),
                  lastCaughtUpTimestamp: report.replicaId == status.leaderId ? wallClockMilliseconds() : toWall(report.lastCaughtUpTimestamp))
        }
        let voterIds = Set(voters.map(\.id))
        var partition = DescribeQuorumResponse.PartitionData(
            partitionIndex: 0, errorCode: 0, leaderId: status.leaderId ?? -1, leaderEpoch: status.epoch,
            highWatermark: status.highWatermark,
            currentVoters: voters.map(\.id).sorted().map { id in
                status.replicas.first { $0.replicaId == id }.map(state)
                    ?? .init(replicaId: id, logEndOffset: -1, lastFetchTimestamp: -1, lastCaughtUpTimestamp: -1)
            },
            observers: status.replicas.filter { !voterIds.contains($0.replicaId) }.map(state))
        partition.errorMessage = nil
        var response = DescribeQuorumResponse(errorCode: 0, topics: [.init(topicName: RaftWire.topicName, partitions: [partition])])
        if version >= 2 {
            response.nodes = voters.map { .init(nodeId: $0.id, listeners: [.init(name: "CONTROLLER", host: $0.host, port: UInt16(clamping: $0.port))]) }
        }
        return response
    }
}
