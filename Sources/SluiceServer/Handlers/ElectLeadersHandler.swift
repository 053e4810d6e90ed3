import KafkaProtocol
import NIOCore
import SluiceCore

/// ElectLeaders v0–2 (cluster only): forwarded to the active controller, answered once this
/// broker's metadata shows the partitions it moved led by their new leaders.
enum ElectLeadersHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(ElectLeadersRequest.self)
        guard let cluster = request.broker.cluster else {
            throw CloseConnection(reason: "ElectLeaders is served only by a cluster")
        }
        return request.forwardToController(body, cluster: cluster, retryWhen: { response in
            response.errorCode == KafkaErrorCode.notController.rawValue
        }, settled: { response in
            let elected = response.replicaElectionResults.flatMap { topic in
                topic.partitionResult.filter { $0.errorCode == 0 }.map { (topic.topic, $0.partitionId) }
            }
            guard !elected.isEmpty else { return nil }
            let before = cluster.quorum.status.image
            return { image in
                elected.allSatisfy { topic, index in
                    (image.topic(named: topic)?.partitions[index]?.leaderEpoch ?? 0) > (before.topic(named: topic)?.partitions[index]?.leaderEpoch ?? 0)
                }
            }
        }, failed: { reason in
            ElectLeadersResponse(errorCode: KafkaErrorCode.requestTimedOut.rawValue)
        })
    }
}
