import KafkaProtocol
import NIOCore
import SluiceCore

/// BrokerRegistration v0–4 on the controller: a broker joins (fenced) and gets its epoch.
enum BrokerRegistrationApi {
    static func handle(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(BrokerRegistrationRequest.self)
        let registration = ClusterControl.Registration(
            brokerId: body.brokerId, clusterId: body.clusterId, incarnationId: body.incarnationId,
            listeners: body.listeners.map { ListenerEndpoint(name: $0.name, host: $0.host, port: Int($0.port)) }, rack: body.rack)
        return quorum.submit(.registerBroker(registration)).hop(to: request.eventLoop).flatMap { reply in
            guard case .registered(let epoch) = reply else { return request.respond(BrokerRegistrationResponse(errorCode: KafkaErrorCode.unknownServerError.rawValue)) }
            return request.respond(BrokerRegistrationResponse(errorCode: 0, brokerEpoch: epoch))
        }.flatMapError { error in
            let code = (error as? ControllerError)?.code ?? .unknownServerError
            if code == .duplicateBrokerRegistration || code == .inconsistentClusterId {
                request.logger.error("refused a broker registration", metadata: ["broker": "\(body.brokerId)", "reason": "\(error)"])
            }
            return request.respond(BrokerRegistrationResponse(errorCode: code.rawValue, brokerEpoch: -1))
        }
    }
}

/// BrokerHeartbeat v0–1 on the controller: keeps a broker's session, fences and unfences it.
enum BrokerHeartbeatApi {
    static func handle(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(BrokerHeartbeatRequest.self)
        let heartbeat = ClusterControl.Heartbeat(brokerId: body.brokerId, brokerEpoch: body.brokerEpoch,
                                                 currentMetadataOffset: body.currentMetadataOffset, wantFence: body.wantFence,
                                                 wantShutDown: body.wantShutDown)
        return quorum.submit(.heartbeat(heartbeat)).hop(to: request.eventLoop).flatMap { reply in
            guard case .heartbeat(let answer) = reply else { return request.respond(BrokerHeartbeatResponse(errorCode: KafkaErrorCode.unknownServerError.rawValue)) }
            return request.respond(BrokerHeartbeatResponse(errorCode: 0, isCaughtUp: answer.isCaughtUp, isFenced: answer.isFenced,
                                                           shouldShutDown: answer.shouldShutDown))
        }.flatMapError { error in
            request.respond(BrokerHeartbeatResponse(errorCode: ((error as? ControllerError)?.code ?? .unknownServerError).rawValue,
                                                    isFenced: true))
        }
    }
}

/// AllocateProducerIds v0 on the controller: a block of ids no other broker will ever hand out.
enum AllocateProducerIdsApi {
    static func handle(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AllocateProducerIdsRequest.self)
        return quorum.submit(.allocateProducerIds(brokerId: body.brokerId, brokerEpoch: body.brokerEpoch)).hop(to: request.eventLoop)
            .flatMap { reply in
                guard case .producerIds(let first, let count) = reply else {
                    return request.respond(AllocateProducerIdsResponse(errorCode: KafkaErrorCode.unknownServerError.rawValue))
                }
                return request.respond(AllocateProducerIdsResponse(errorCode: 0, producerIdStart: first, producerIdLen: Int32(clamping: count)))
            }.flatMapError { error in
                request.respond(AllocateProducerIdsResponse(errorCode: ((error as? ControllerError)?.code ?? .unknownServerError).rawValue,
                                                            producerIdStart: -1, producerIdLen: 0))
            }
    }
}
