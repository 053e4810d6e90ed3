import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// CreatePartitions v0–3: grow a topic (replica assignments may name only this broker).
enum CreatePartitionsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(CreatePartitionsRequest.self)
        let node = request.broker.nodeId
        let results = body.topics.map { topic -> CreatePartitionsResponse.CreatePartitionsTopicResult in
            if let assignments = topic.assignments, assignments.contains(where: { $0.brokerIds != [node] }) {
                return .init(name: topic.name, errorCode: KafkaErrorCode.invalidReplicaAssignment.rawValue,
                             errorMessage: "Assignments may name only broker \(node).")
            }
            do throws(TopicError) {
                try request.broker.registry.createPartitions(name: topic.name, totalCount: topic.count, validateOnly: body.validateOnly)
                return .init(name: topic.name, errorCode: 0)
            } catch {
                return .init(name: topic.name, errorCode: error.code.rawValue, errorMessage: error.message)
            }
        }
        return request.respond(CreatePartitionsResponse(results: results))
    }
}
