import KafkaProtocol
import NIOCore
import SluiceCore

/// Heartbeat v0–4: keeps a member's session alive and tells it when to rejoin.
enum HeartbeatHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(HeartbeatRequest.self)
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (HeartbeatResponse) -> Void) in
            let error = coordinator.heartbeat(groupId: body.groupId, generationId: body.generationId, memberId: body.memberId,
                                              groupInstanceId: body.groupInstanceId)
            respond(HeartbeatResponse(errorCode: error.rawValue))
        }
    }
}
