import KafkaProtocol
import NIOCore
import SluiceCore

/// In a cluster a group's coordinator is the leader of its __consumer_offsets partition
/// (`GroupPartitions`); a group request that reaches another broker gets NOT_COORDINATOR, and
/// one that arrives while this broker is still loading the partition gets
/// COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers them, so the client retries or looks the
/// coordinator up again. A request naming several groups is served only when every one of them
/// is coordinated here. ListGroups is answered by every broker for the groups it holds.
enum GroupCoordinatorRouting {
    static let groupApis: Set<ApiKey> = [.joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit, .offsetFetch,
                                         .describeGroups, .deleteGroups, .offsetDelete, .txnOffsetCommit]

    /// The refusal when `request` is a group request this broker must not serve; nil otherwise.
    static func refusal(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?>? {
        guard let cluster = request.broker.cluster, groupApis.contains(request.frame.apiKey) else { return nil }
        guard let partitions = cluster.groupPartitions else { return try respond(request, .notCoordinator) }
        let statuses = try groupIds(of: request).map { partitions.status(of: $0) }
        if statuses.allSatisfy({ $0 == .served }) { return nil }
        return try respond(request, statuses.contains(.elsewhere) ? .notCoordinator : .coordinatorLoadInProgress)
    }

    static func groupIds(of request: RequestContext) throws -> [String] {
        switch request.frame.apiKey {
        case .joinGroup: return [try request.decode(JoinGroupRequest.self).groupId]
        case .syncGroup: return [try request.decode(SyncGroupRequest.self).groupId]
        case .heartbeat: return [try request.decode(HeartbeatRequest.self).groupId]
        case .leaveGroup: return [try request.decode(LeaveGroupRequest.self).groupId]
        case .offsetCommit: return [try request.decode(OffsetCommitRequest.self).groupId]
        case .offsetFetch:
            let body = try request.decode(OffsetFetchRequest.self)
            return request.version >= 8 ? body.groups.map(\.groupId) : [body.groupId]
        case .describeGroups: return try request.decode(DescribeGroupsRequest.self).groups
        case .deleteGroups: return try request.decode(DeleteGroupsRequest.self).groupsNames
        case .offsetDelete: return [try request.decode(OffsetDeleteRequest.self).groupId]
        case .txnOffsetCommit: return [try request.decode(TxnOffsetCommitRequest.self).groupId]
        default: return []
        }
    }

    private static func respond(_ request: RequestContext, _ error: KafkaErrorCode) throws -> EventLoopFuture<OutgoingResponse?>? {
        let code = error.rawValue
        switch request.frame.apiKey {
        case .joinGroup:
            return request.respond(JoinGroupResponse(errorCode: code, generationId: -1))
        case .syncGroup:
            return request.respond(SyncGroupResponse(errorCode: code))
        case .heartbeat:
            return request.respond(HeartbeatResponse(errorCode: code))
        case .leaveGroup:
            return request.respond(LeaveGroupResponse(errorCode: code))
        case .offsetCommit:
            let body = try request.decode(OffsetCommitRequest.self)
            return request.respond(OffsetCommitResponse(topics: body.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code) })
            }))
        case .offsetFetch:
            let body = try request.decode(OffsetFetchRequest.self)
            if request.version >= 8 {
                return request.respond(OffsetFetchResponse(groups: body.groups.map { .init(groupId: $0.groupId, errorCode: code) }))
            }
            return request.respond(OffsetFetchResponse(errorCode: code))
        case .describeGroups:
            let body = try request.decode(DescribeGroupsRequest.self)
            return request.respond(DescribeGroupsResponse(groups: body.groups.map { .init(errorCode: code, groupId: $0) }))
        case .deleteGroups:
            let body = try request.decode(DeleteGroupsRequest.self)
            return request.respond(DeleteGroupsResponse(results: body.groupsNames.map { .init(groupId: $0, errorCode: code) }))
        case .offsetDelete:
            return request.respond(OffsetDeleteResponse(errorCode: code))
        case .txnOffsetCommit:
            let body = try request.decode(TxnOffsetCommitRequest.self)
            return request.respond(TxnOffsetCommitResponse(topics: body.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code) })
            }))
        default:
            return nil
        }
    }
}
