import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// CreatePartitions v0–3: grow a topic (replica assignments may name only this broker).
enum CreatePartitionsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(CreatePartitionsRequest.self)
        if let cluster = request.broker.cluster {
            return request.forwardToController(body, cluster: cluster, retryWhen: { response in
                !response.results.isEmpty && response.results.allSatisfy { $0.errorCode == KafkaErrorCode.notController.rawValue }
            }, settled: { response in
                guard !body.validateOnly else { return nil }
                let grown = Dictionary(body.topics.map { ($0.name, Int($0.count)) }, uniquingKeysWith: { first, _ in first })
                let done = response.results.filter { $0.errorCode == 0 }.map(\.name)
                return { image in done.allSatisfy { (image.topic(named: $0)?.partitions.count ?? 0) >= grown[$0] ?? 0 } }
            }, failed: { reason in
                CreatePartitionsResponse(results: body.topics.map {
                    .init(name: $0.name, errorCode: KafkaErrorCode.requestTimedOut.rawValue, errorMessage: reason)
                })
            })
        }
        let node = request.broker.nodeId
        let added = body.topics.reduce(0) { total, topic in
            total + max(0, Int(topic.count) - (request.broker.registry.topic(named: topic.name)?.partitions.count ?? 0))
        }
        if added > CreateTopicsHandler.maxRecordsPerRequest {
            return request.respond(CreatePartitionsResponse(results: body.topics.map {
                .init(name: $0.name, errorCode: KafkaErrorCode.policyViolation.rawValue,
                      errorMessage: "Unable to perform excessively large batch operation.")
            }))
        }
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
