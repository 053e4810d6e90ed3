import KafkaProtocol
import NIOCore
import SluiceCore

/// In a cluster one broker coordinates every group (`ClusterNode.groupCoordinator`); a group
/// request that reaches another gets NOT_COORDINATOR, as Kafka answers a request for a group
/// whose coordinator lives elsewhere, so the client looks the coordinator up again. ListGroups
/// is answered by every broker for the groups it holds, as in Kafka.
enum GroupCoordinatorRouting {
    static let groupApis: Set<ApiKey> = [.joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit, .offsetFetch,
                                         .describeGroups, .deleteGroups, .offsetDelete]

    /// The NOT_COORDINATOR answer when `request` is a group request this broker must not serve; nil otherwise.
    static func refusal(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?>? {
        guard let cluster = request.broker.cluster, groupApis.contains(request.frame.apiKey) else { return nil }
        guard cluster.groupCoordinator(cluster.quorum.status.image)?.id != cluster.settings.nodeId else { return nil }
        let code = KafkaErrorCode.notCoordinator.rawValue
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
        default:
            return nil
        }
    }
}
