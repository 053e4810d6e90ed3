import KafkaProtocol
import NIOCore
import SluiceCore

/// DescribeGroups v0–5. A group this broker does not know is described as Dead with no error,
/// as Kafka does; member metadata and assignments only for Stable groups. Asked for authorized
/// operations (v3+), it answers what Kafka without an authorizer does: every operation a group
/// supports (READ, DELETE, DESCRIBE); INT32_MIN when not asked.
enum DescribeGroupsHandler {
    /// AclOperation bits: READ (3), DELETE (6), DESCRIBE (8).
    static let groupOperations: Int32 = 1 << 3 | 1 << 6 | 1 << 8

    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeGroupsRequest.self)
        let operations = body.includeAuthorizedOperations ? Self.groupOperations : Int32.min
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (DescribeGroupsResponse) -> Void) in
            respond(DescribeGroupsResponse(groups: body.groups.map { groupId in
                let description = coordinator.describeGroup(groupId)
                return .init(
                    errorCode: description.error.rawValue, groupId: groupId, groupState: description.state.rawValue,
                    protocolType: description.protocolType, protocolData: description.protocolName,
                    members: description.members.map {
                        .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                              clientHost: $0.clientHost, memberMetadata: $0.metadata, memberAssignment: $0.assignment)
                    },
                    authorizedOperations: operations)
            }))
        }
    }
}
