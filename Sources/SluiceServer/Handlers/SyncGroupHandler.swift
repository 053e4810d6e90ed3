import KafkaProtocol
import NIOCore
import SluiceCore

/// SyncGroup v0–5: the leader brings the assignment; every member waits for its share.
enum SyncGroupHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(SyncGroupRequest.self)
        var assignments: [String: ByteBuffer] = [:]
        for entry in body.assignments { assignments[entry.memberId] = entry.assignment }
        let input = SyncGroupInput(
            groupId: body.groupId, generationId: body.generationId, memberId: body.memberId, groupInstanceId: body.groupInstanceId,
            protocolType: body.protocolType, protocolName: body.protocolName, assignments: assignments)
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (SyncGroupResponse) -> Void) in
            coordinator.syncGroup(input) { result in
                respond(SyncGroupResponse(errorCode: result.error.rawValue, protocolType: result.protocolType,
                                          protocolName: result.protocolName, assignment: result.assignment))
            }
        }
    }
}
