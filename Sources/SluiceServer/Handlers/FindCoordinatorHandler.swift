import KafkaProtocol
import NIOCore
import SluiceCore

/// FindCoordinator v0–4 (batched keys from v4): a broker of its own coordinates every group and
/// transactional id; in a cluster, the leader of the group's __consumer_offsets partition
/// does, or of the transactional id's __transaction_state partition (key type 1).
enum FindCoordinatorHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(FindCoordinatorRequest.self)
        let broker = request.broker
        // Groups (0) and transactional ids (1) have coordinators; any other key type is
        // INVALID_REQUEST, as Kafka answers it.
        guard request.version < 1 || body.keyType == 0 || body.keyType == 1 else {
            let code = KafkaErrorCode.invalidRequest.rawValue
            if request.version >= 4 {
                return request.respond(FindCoordinatorResponse(coordinators: body.coordinatorKeys.map {
                    .init(key: $0, nodeId: -1, host: "", port: -1, errorCode: code)
                }))
            }
            return request.respond(FindCoordinatorResponse(errorCode: code, nodeId: -1, host: "", port: -1))
        }
        if let cluster = broker.cluster {
            // A group's coordinator is the leader of its partition of __consumer_offsets, made
            // the first time anyone asks (COORDINATOR_NOT_AVAILABLE until then, which clients retry).
            let image = cluster.quorum.status.image
            let transactional = request.version >= 1 && body.keyType == 1
            let config = broker.config
            if transactional {
                if image.topic(named: TransactionStateTopicStore.topic) == nil {
                    cluster.transactionPartitions?.createTopicIfMissing(cluster: cluster, config: config)
                }
            } else if image.topic(named: OffsetsTopicStore.topic) == nil, let partitions = cluster.groupPartitions {
                partitions.createTopicIfMissing(cluster: cluster, partitions: config.int("offsets.topic.num.partitions"),
                                                replicationFactor: config.int("offsets.topic.replication.factor"),
                                                segmentBytes: config.int("offsets.topic.segment.bytes"))
            }
            func answer(_ key: String) -> (KafkaErrorCode, Int32, String, Int32) {
                let found = transactional ? cluster.transactionCoordinator(of: key, image: image) : cluster.groupCoordinator(of: key, image: image)
                guard let coordinator = found,
                      let endpoint = coordinator.endpoint(on: request.listenerName) else { return (.coordinatorNotAvailable, -1, "", -1) }
                return (.none, coordinator.id, endpoint.host, Int32(endpoint.port))
            }
            if request.version >= 4 {
                return request.respond(FindCoordinatorResponse(coordinators: body.coordinatorKeys.map {
                    let (code, node, host, port) = answer($0)
                    return .init(key: $0, nodeId: node, host: host, port: port, errorCode: code.rawValue)
                }))
            }
            let (code, node, host, port) = answer(body.key)
            return request.respond(FindCoordinatorResponse(errorCode: code.rawValue, nodeId: node, host: host, port: port))
        }
        if request.version >= 4 {
            let coordinators = body.coordinatorKeys.map {
                FindCoordinatorResponse.Coordinator(
                    key: $0, nodeId: broker.nodeId, host: request.advertised.host, port: request.advertised.port, errorCode: 0)
            }
            return request.respond(FindCoordinatorResponse(coordinators: coordinators))
        }
        return request.respond(FindCoordinatorResponse(
            errorCode: 0, nodeId: broker.nodeId, host: request.advertised.host, port: request.advertised.port))
    }
}
