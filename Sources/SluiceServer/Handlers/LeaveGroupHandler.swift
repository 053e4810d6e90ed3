import KafkaProtocol
import NIOCore
import SluiceCore

/// LeaveGroup v0–5: one member before v3, a batch from v3 (KIP-345). Before v3 the member's
/// error is the response's error, as Kafka answers.
enum LeaveGroupHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(LeaveGroupRequest.self)
        let version = request.version
        let leaving = version >= 3
            ? body.members.map { LeavingMember(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId) }
            : [LeavingMember(memberId: body.memberId, groupInstanceId: nil)]
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (LeaveGroupResponse) -> Void) in
            let result = coordinator.leaveGroup(groupId: body.groupId, members: leaving)
            if version < 3 {
                let error = result.error != .none ? result.error : (result.members.first?.error ?? .none)
                respond(LeaveGroupResponse(errorCode: error.rawValue))
                return
            }
            respond(LeaveGroupResponse(errorCode: result.error.rawValue, members: result.members.map {
                .init(memberId: $0.member.memberId, groupInstanceId: $0.member.groupInstanceId, errorCode: $0.error.rawValue)
            }))
        }
    }
}
