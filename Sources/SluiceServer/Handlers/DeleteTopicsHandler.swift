import KafkaProtocol
import NIOCore
import SluiceCore

/// DeleteTopics v1–6: by name, or by topic id from v6. A topic is answered once its partition
/// directories have been moved aside, so a CreateTopics of the same name sent after the answer
/// (or pipelined behind the request) starts from nothing.
enum DeleteTopicsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DeleteTopicsRequest.self)
        if let cluster = request.broker.cluster {
            return request.forwardToController(body, cluster: cluster, retryWhen: { response in
                !response.responses.isEmpty && response.responses.allSatisfy { $0.errorCode == KafkaErrorCode.notController.rawValue }
            }, settled: { response in
                let deleted = response.responses.filter { $0.errorCode == 0 }.map(\.topicId)
                return { image in deleted.allSatisfy { image.topicsById[$0] == nil } }
            }, failed: { reason in
                DeleteTopicsResponse(responses: body.topicNames.map {
                    .init(name: $0, errorCode: KafkaErrorCode.requestTimedOut.rawValue, errorMessage: reason)
                } + body.topics.map { .init(name: $0.name, topicId: $0.topicId, errorCode: KafkaErrorCode.requestTimedOut.rawValue, errorMessage: reason) })
            })
        }
        let registry = request.broker.registry
        let eventLoop = request.eventLoop
        var wanted: [(name: String?, id: KafkaUUID)] = body.topicNames.map { ($0, .zero) }
        wanted += body.topics.map { ($0.name, $0.topicId) }
        var results: [EventLoopFuture<DeleteTopicsResponse.DeletableTopicResult>] = []
        for (name, id) in wanted {
            let topic = name.flatMap { registry.topic(named: $0) } ?? (id != .zero ? registry.topic(id: id) : nil)
            guard let topic else {
                let code: KafkaErrorCode = name == nil ? .unknownTopicId : .unknownTopicOrPartition
                results.append(eventLoop.makeSucceededFuture(.init(name: name, topicId: id, errorCode: code.rawValue,
                                                                   errorMessage: "This server does not host this topic.")))
                continue
            }
            let done = eventLoop.makePromise(of: DeleteTopicsResponse.DeletableTopicResult.self)
            do {
                try registry.deleteTopic(name: topic.name) {
                    done.succeed(.init(name: topic.name, topicId: topic.id, errorCode: 0))
                }
                let groups = request.broker.groups
                let name = topic.name
                groups.owner.execute { groups.removeOffsets(forTopic: name) }
            } catch {
                done.succeed(.init(name: topic.name, topicId: topic.id, errorCode: error.code.rawValue, errorMessage: error.message))
            }
            results.append(done.futureResult)
        }
        return EventLoopFuture.whenAllSucceed(results, on: eventLoop).flatMap { results in
            request.respond(DeleteTopicsResponse(responses: results))
        }
    }
}
