import KafkaProtocol
import NIOCore
import SluiceCore

/// InitProducerId v0–4 for idempotent producers: a fresh producer id at epoch 0 each time,
/// unless a v3+ request names its current id and epoch (KIP-360), which bumps the epoch (a new
/// id once the epoch is exhausted). With a transactional.id the transaction coordinator
/// answers (`TransactionHandlers.initProducerId`).
enum InitProducerIdHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(InitProducerIdRequest.self)
        if let transactionalId = body.transactionalId {
            return TransactionHandlers.initProducerId(request, body, transactionalId: transactionalId)
        }
        do {
            if request.version >= 3, body.producerId >= 0, body.producerEpoch >= 0, body.producerEpoch < Int16.max - 1 {
                return request.respond(InitProducerIdResponse(errorCode: 0, producerId: body.producerId,
                                                              producerEpoch: body.producerEpoch + 1))
            }
            if let cluster = request.broker.cluster {
                // Ids come in blocks from the controller, so no two brokers hand out the same one.
                let promise = request.eventLoop.makePromise(of: OutgoingResponse?.self)
                let (version, correlationId, logger) = (request.version, request.correlationId, request.logger)
                promise.completeWithTask {
                    let response: InitProducerIdResponse
                    do {
                        response = InitProducerIdResponse(errorCode: 0, producerId: try await cluster.nextProducerId(), producerEpoch: 0)
                    } catch {
                        logger.warning("no producer id block from the controller", metadata: ["error": "\(error)"])
                        response = InitProducerIdResponse(errorCode: KafkaErrorCode.coordinatorNotAvailable.rawValue, producerId: -1, producerEpoch: -1)
                    }
                    return try OutgoingResponse.encode(response, version: version, correlationId: correlationId)
                }
                return promise.futureResult
            }
            let id = try request.broker.producerIds.allocate()
            return request.respond(InitProducerIdResponse(errorCode: 0, producerId: id, producerEpoch: 0))
        } catch {
            return request.respond(InitProducerIdResponse(errorCode: KafkaErrorCode.kafkaStorageError.rawValue,
                                                          producerId: -1, producerEpoch: -1))
        }
    }
}
