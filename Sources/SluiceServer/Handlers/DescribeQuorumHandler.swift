import KafkaProtocol
import NIOCore
import SluiceCore

/// DescribeQuorum v0–1 on a broker of a cluster: forwarded to the quorum's leader, which alone
/// knows every voter's lag (Kafka's brokers forward it the same way). Not served by a single
/// broker, which has no quorum.
enum DescribeQuorumHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeQuorumRequest.self)
        guard let cluster = request.broker.cluster else { throw CloseConnection(reason: "DescribeQuorum needs a quorum") }
        return request.forwardToController(body, cluster: cluster, retryWhen: { response in
            response.topics.first?.partitions.first?.errorCode == KafkaErrorCode.notLeaderOrFollower.rawValue
        }, failed: { reason in
            DescribeQuorumResponse(errorCode: KafkaErrorCode.requestTimedOut.rawValue, errorMessage: reason)
        })
    }
}
