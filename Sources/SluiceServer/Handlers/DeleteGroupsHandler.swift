import KafkaProtocol
import NIOCore
import SluiceCore

/// DeleteGroups v0–2: empty groups only (NON_EMPTY_GROUP otherwise), offsets included.
enum DeleteGroupsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DeleteGroupsRequest.self)
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (DeleteGroupsResponse) -> Void) in
            coordinator.deleteGroups(body.groupsNames) { results in
                respond(DeleteGroupsResponse(results: results.map { .init(groupId: $0.0, errorCode: $0.1.rawValue) }))
            }
        }
    }
}
