import KafkaProtocol
import NIOCore
import SluiceCore

/// ElectLeaders v0–2 on the controller (kafka-leader-election.sh): preferred or unclean
/// elections, one result per partition (v0 has no election type: preferred).
enum ElectLeadersApi {
    static func handle(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(ElectLeadersRequest.self)
        guard let type = ReplicationControl.ElectionType(rawValue: request.version >= 1 ? body.electionType : 0) else {
            return request.respond(ElectLeadersResponse(errorCode: KafkaErrorCode.invalidRequest.rawValue))
        }
        let wanted = body.topicPartitions.map { topics in
            Dictionary(topics.map { ($0.topic, $0.partitions) }, uniquingKeysWith: { first, second in first + second })
        }
        return quorum.submit(.electLeaders(type, partitions: wanted)).hop(to: request.eventLoop).flatMap { reply in
            guard case .leadersElected(let results) = reply else {
                return request.respond(ElectLeadersResponse(errorCode: KafkaErrorCode.unknownServerError.rawValue))
            }
            return request.respond(response(results))
        }.flatMapError { error in
            request.respond(ElectLeadersResponse(errorCode: ((error as? ControllerError)?.code ?? .unknownServerError).rawValue))
        }
    }

    static func response(_ results: [ReplicationControl.ElectionResult]) -> ElectLeadersResponse {
        ElectLeadersResponse(errorCode: 0, replicaElectionResults: ReplicationControl.byTopic(results).map { topic, results in
            .init(topic: topic, partitionResult: results.map { .init(partitionId: $0.partition, errorCode: $0.code.rawValue, errorMessage: $0.message) })
        })
    }
}
