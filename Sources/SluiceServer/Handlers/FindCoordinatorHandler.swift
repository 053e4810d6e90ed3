import KafkaProtocol
import NIOCore
import SluiceCore

/// FindCoordinator v0–4: this broker coordinates every group (batched keys from v4). Group
/// membership itself arrives with issue #5; until then only the lookup is served.
enum FindCoordinatorHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(FindCoordinatorRequest.self)
        let broker = request.broker
        if let cluster = broker.cluster {
            // Groups stay on one broker until #11 moves them onto a replicated topic.
            let coordinator = cluster.groupCoordinator(cluster.quorum.status.image)
            let endpoint = coordinator.flatMap { cluster.clientEndpoint(of: $0) }
            let code = endpoint == nil ? KafkaErrorCode.coordinatorNotAvailable : .none
            let (node, host, port) = (coordinator?.id ?? -1, endpoint?.host ?? "", Int32(endpoint?.port ?? -1))
            if request.version >= 4 {
                return request.respond(FindCoordinatorResponse(coordinators: body.coordinatorKeys.map {
                    .init(key: $0, nodeId: node, host: host, port: port, errorCode: code.rawValue)
                }))
            }
            return request.respond(FindCoordinatorResponse(errorCode: code.rawValue, nodeId: node, host: host, port: port))
        }
        if request.version >= 4 {
            let coordinators = body.coordinatorKeys.map {
                FindCoordinatorResponse.Coordinator(
                    key: $0, nodeId: broker.nodeId, host: broker.advertisedHost, port: broker.advertisedPort, errorCode: 0)
            }
            return request.respond(FindCoordinatorResponse(coordinators: coordinators))
        }
        return request.respond(FindCoordinatorResponse(
            errorCode: 0, nodeId: broker.nodeId, host: broker.advertisedHost, port: broker.advertisedPort))
    }
}
