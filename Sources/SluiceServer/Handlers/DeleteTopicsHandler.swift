import KafkaProtocol
import NIOCore
import SluiceCore

/// DeleteTopics v1–6: by name, or by topic id from v6.
enum DeleteTopicsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DeleteTopicsRequest.self)
        let registry = request.broker.registry
        var wanted: [(name: String?, id: KafkaUUID)] = body.topicNames.map { ($0, .zero) }
        wanted += body.topics.map { ($0.name, $0.topicId) }
        var results: [DeleteTopicsResponse.DeletableTopicResult] = []
        for (name, id) in wanted {
            let topic = name.flatMap { registry.topic(named: $0) } ?? (id != .zero ? registry.topic(id: id) : nil)
            guard let topic else {
                let code: KafkaErrorCode = name == nil ? .unknownTopicId : .unknownTopicOrPartition
                results.append(.init(name: name, topicId: id, errorCode: code.rawValue,
                                     errorMessage: "This server does not host this topic."))
                continue
            }
            do {
                try registry.deleteTopic(name: topic.name)
                let groups = request.broker.groups
                let name = topic.name
                groups.owner.execute { groups.removeOffsets(forTopic: name) }
                results.append(.init(name: topic.name, topicId: topic.id, errorCode: 0))
            } catch {
                results.append(.init(name: topic.name, topicId: topic.id, errorCode: error.code.rawValue, errorMessage: error.message))
            }
        }
        return request.respond(DeleteTopicsResponse(responses: results))
    }
}
