import KafkaProtocol
import NIOCore
import SluiceCore

/// InitProducerId v0–4 for idempotent producers: a fresh producer id at epoch 0 each time,
/// unless a v3+ request names its current id and epoch (KIP-360), which bumps the epoch (a new
/// id once the epoch is exhausted). Transactions are not supported yet: a transactional.id gets
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, never a silent accept.
enum InitProducerIdHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(InitProducerIdRequest.self)
        if body.transactionalId != nil {
            return request.respond(InitProducerIdResponse(errorCode: KafkaErrorCode.transactionalIdAuthorizationFailed.rawValue,
                                                          producerId: -1, producerEpoch: -1))
        }
        do {
            if request.version >= 3, body.producerId >= 0, body.producerEpoch >= 0, body.producerEpoch < Int16.max - 1 {
                return request.respond(InitProducerIdResponse(errorCode: 0, producerId: body.producerId,
                                                              producerEpoch: body.producerEpoch + 1))
            }
            let id = try request.broker.producerIds.allocate()
            return request.respond(InitProducerIdResponse(errorCode: 0, producerId: id, producerEpoch: 0))
        } catch {
            return request.respond(InitProducerIdResponse(errorCode: KafkaErrorCode.kafkaStorageError.rawValue,
                                                          producerId: -1, producerEpoch: -1))
        }
    }
}
