import KafkaProtocol
import NIOCore
import SluiceCore

/// ListGroups v0–5: every group, filtered by state (v4+) and type (v5+; all groups here are
/// "classic").
enum ListGroupsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(ListGroupsRequest.self)
        let types = Set(body.typesFilter.map { $0.lowercased() })
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (ListGroupsResponse) -> Void) in
            let listed = types.isEmpty || types.contains("classic") ? coordinator.listGroups(states: body.statesFilter) : []
            respond(ListGroupsResponse(errorCode: 0, groups: listed.map {
                .init(groupId: $0.groupId, protocolType: $0.protocolType, groupState: $0.state.rawValue, groupType: "classic")
            }))
        }
    }
}
