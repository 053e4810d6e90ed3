import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// DescribeCluster v0–1: this broker, as controller. v1's EndpointType asks for brokers (1) or
/// controllers (2); a broker answers only the first (MISMATCHED_ENDPOINT_TYPE for controllers,
/// UNSUPPORTED_ENDPOINT_TYPE for anything else), as Kafka's do.
enum DescribeClusterHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeClusterRequest.self)
        let broker = request.broker
        switch body.endpointType {
        case 1: break
        case 2:
            return request.respond(DescribeClusterResponse(
                errorCode: KafkaErrorCode.mismatchedEndpointType.rawValue,
                errorMessage: "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
                endpointType: 1, clusterId: broker.identity.clusterId))
        default:
            return request.respond(DescribeClusterResponse(
                errorCode: KafkaErrorCode.unsupportedEndpointType.rawValue, errorMessage: "Unsupported endpoint type \(body.endpointType)",
                endpointType: 1, clusterId: broker.identity.clusterId))
        }
        if let cluster = broker.cluster {
            let status = cluster.quorum.status
            let brokers = status.image.activeBrokers.compactMap { registration -> DescribeClusterResponse.DescribeClusterBroker? in
                guard let endpoint = registration.endpoint(on: request.listenerName) else { return nil }
                return .init(brokerId: registration.id, host: endpoint.host, port: Int32(endpoint.port), rack: registration.rack)
            }
            return request.respond(DescribeClusterResponse(errorCode: 0, clusterId: broker.identity.clusterId,
                                                           controllerId: cluster.controllerIdForClients(status), brokers: brokers))
        }
        return request.respond(DescribeClusterResponse(
            errorCode: 0, clusterId: broker.identity.clusterId, controllerId: broker.nodeId,
            brokers: [.init(brokerId: broker.nodeId, host: request.advertised.host, port: request.advertised.port, rack: nil)]))
    }
}
