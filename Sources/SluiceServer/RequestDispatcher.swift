import KafkaProtocol
import NIOCore

/// The APIs this broker serves and their version ranges; only what is implemented is advertised.
enum SupportedApis {
    static let ranges: [(ApiKey, ClosedRange<Int16>)] = [
        (.produce, 0...11),
        (.fetch, 4...16),
        (.listOffsets, 1...8),
        (.metadata, 0...12),
        (.findCoordinator, 0...4),
        (.apiVersions, 0...4),
        (.createTopics, 2...7),
        (.deleteTopics, 1...6),
        (.createPartitions, 0...3),
        (.describeConfigs, 1...4),
        (.alterConfigs, 0...2),
        (.incrementalAlterConfigs, 0...1),
        (.deleteRecords, 0...2),
        (.describeCluster, 0...1),
        (.offsetForLeaderEpoch, 2...4),
        (.initProducerId, 0...4),
        (.joinGroup, 0...9),
        (.syncGroup, 0...5),
        (.heartbeat, 0...4),
        (.leaveGroup, 0...5),
        (.offsetCommit, 2...9),
        (.offsetFetch, 1...9),
        (.describeGroups, 0...5),
        (.listGroups, 0...5),
        (.deleteGroups, 0...2),
        (.offsetDelete, 0...0),
        (.addPartitionsToTxn, 0...4), (.addOffsetsToTxn, 0...4), (.endTxn, 0...4), (.txnOffsetCommit, 0...4),
        (.describeTransactions, 0...0), (.listTransactions, 0...1), (.describeProducers, 0...0),
        // SaslHandshake v0 is followed by bare tokens; v1 by SaslAuthenticate (librdkafka wants both).
        (.saslHandshake, 0...1), (.saslAuthenticate, 0...2),
        (.describeUserScramCredentials, 0...0), (.alterUserScramCredentials, 0...0),
    ]

    /// What a node of a cluster serves besides: DescribeQuorum, ElectLeaders and partition
    /// reassignments, forwarded to the controller or answered from the metadata image
    /// (kafka-metadata-quorum, kafka-leader-election, kafka-reassign-partitions and `sluice
    /// cluster describe` ask any broker); and WriteTxnMarkers, which transaction coordinators
    /// send the partitions' leaders.
    static let clusterRanges: [(ApiKey, ClosedRange<Int16>)] = ranges + [
        (.describeQuorum, 0...1), (.electLeaders, 0...2), (.alterPartitionReassignments, 0...0), (.listPartitionReassignments, 0...0),
        (.writeTxnMarkers, 0...1),
    ]

    static let singleBrokerRanges: [(ApiKey, ClosedRange<Int16>)] = ranges

    static func ranges(clustered: Bool) -> [(ApiKey, ClosedRange<Int16>)] { clustered ? clusterRanges : singleBrokerRanges }

    static func range(for key: ApiKey, clustered: Bool = false) -> ClosedRange<Int16>? {
        ranges(clustered: clustered).first { $0.0 == key }?.1
    }
}

/// Routes a request to its handler. Unknown keys and unsupported versions (but for ApiVersions,
/// which answers them) close the connection, as Kafka does.
enum RequestDispatcher {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let key = request.frame.apiKey
        let clustered = request.broker.cluster != nil
        if key == .apiVersions {
            return ApiVersionsHandler.handle(request, ranges: SupportedApis.ranges(clustered: clustered))
        }
        guard let range = SupportedApis.range(for: key, clustered: clustered) else {
            throw CloseConnection(reason: "unsupported API key \(key.rawValue)")
        }
        guard range.contains(request.version) else {
            throw CloseConnection(reason: "unsupported version \(request.version) of \(key) (supported \(range))")
        }
        if let refusal = try GroupCoordinatorRouting.refusal(request) { return refusal }
        switch key {
        case .produce: return try ProduceHandler.handle(request)
        case .fetch: return try FetchHandler.handle(request)
        case .listOffsets: return try ListOffsetsHandler.handle(request)
        case .metadata: return try MetadataHandler.handle(request)
        case .findCoordinator: return try FindCoordinatorHandler.handle(request)
        case .createTopics: return try CreateTopicsHandler.handle(request)
        case .deleteTopics: return try DeleteTopicsHandler.handle(request)
        case .createPartitions: return try CreatePartitionsHandler.handle(request)
        case .electLeaders: return try ElectLeadersHandler.handle(request)
        case .alterPartitionReassignments: return try AlterPartitionReassignmentsHandler.handle(request)
        case .listPartitionReassignments: return try ListPartitionReassignmentsHandler.handle(request)
        case .describeConfigs: return try DescribeConfigsHandler.handle(request)
        case .alterConfigs: return try AlterConfigsHandler.handle(request)
        case .incrementalAlterConfigs: return try AlterConfigsHandler.handleIncremental(request)
        case .deleteRecords: return try DeleteRecordsHandler.handle(request)
        case .describeCluster: return try DescribeClusterHandler.handle(request)
        case .offsetForLeaderEpoch: return try OffsetForLeaderEpochHandler.handle(request)
        case .initProducerId: return try InitProducerIdHandler.handle(request)
        case .addPartitionsToTxn: return try TransactionHandlers.addPartitions(request)
        case .endTxn: return try TransactionHandlers.endTransaction(request)
        case .addOffsetsToTxn: return try TransactionHandlers.addOffsets(request)
        case .txnOffsetCommit: return try TransactionHandlers.commitOffsets(request)
        case .describeTransactions: return try TransactionAdminHandlers.describeTransactions(request)
        case .listTransactions: return try TransactionAdminHandlers.listTransactions(request)
        case .describeProducers: return try TransactionAdminHandlers.describeProducers(request)
        case .writeTxnMarkers: return try WriteTxnMarkersHandler.handle(request)
        case .joinGroup: return try JoinGroupHandler.handle(request)
        case .syncGroup: return try SyncGroupHandler.handle(request)
        case .heartbeat: return try HeartbeatHandler.handle(request)
        case .leaveGroup: return try LeaveGroupHandler.handle(request)
        case .offsetCommit: return try OffsetCommitHandler.handle(request)
        case .offsetFetch: return try OffsetFetchHandler.handle(request)
        case .describeGroups: return try DescribeGroupsHandler.handle(request)
        case .listGroups: return try ListGroupsHandler.handle(request)
        case .deleteGroups: return try DeleteGroupsHandler.handle(request)
        case .offsetDelete: return try OffsetDeleteHandler.handle(request)
        case .describeQuorum: return try DescribeQuorumHandler.handle(request)
        case .saslHandshake: return try SaslHandlers.handshake(request)
        case .saslAuthenticate: return try SaslHandlers.authenticate(request)
        case .describeUserScramCredentials: return try ScramCredentialsHandlers.describe(request)
        case .alterUserScramCredentials: return try ScramCredentialsHandlers.alter(request)
        default: throw CloseConnection(reason: "no handler for \(key)")
        }
    }
}
