import KafkaProtocol
import NIOCore
import SluiceCore

/// FindCoordinator v0–4: this broker coordinates every group (batched keys from v4). Group
/// membership itself arrives with issue #5; until then only the lookup is served.
enum FindCoordinatorHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(FindCoordinatorRequest.self)
        let broker = request.broker
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
