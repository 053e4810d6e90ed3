import KafkaProtocol
import NIOCore
import SluiceCore

/// DescribeGroups v0–5. A group this broker does not know is described as Dead with no error,
/// as Kafka does; member metadata and assignments only for Stable groups.
enum DescribeGroupsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeGroupsRequest.self)
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
                    authorizedOperations: Int32.min)
            }))
        }
    }
}
