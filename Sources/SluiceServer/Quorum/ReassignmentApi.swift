import KafkaProtocol
import NIOCore
import SluiceCore

/// AlterPartitionReassignments v0 on the controller (kafka-reassign-partitions.sh): start,
/// replace or cancel (null replicas) reassignments, one result per partition.
enum ReassignmentApi {
    static func handle(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AlterPartitionReassignmentsRequest.self)
        let wanted = body.topics.flatMap { topic in
            topic.partitions.map { ReplicationControl.Reassignment(topic: topic.name, partition: $0.partitionIndex, replicas: $0.replicas) }
        }
        return quorum.submit(.alterReassignments(wanted)).hop(to: request.eventLoop).flatMap { reply in
            guard case .reassignmentsAltered(let results) = reply else {
                return request.respond(AlterPartitionReassignmentsResponse(errorCode: KafkaErrorCode.unknownServerError.rawValue))
            }
            return request.respond(AlterPartitionReassignmentsResponse(
                errorCode: 0, responses: ReplicationControl.byTopic(results).map { topic, results in
                    .init(name: topic, partitions: results.map { .init(partitionIndex: $0.partition, errorCode: $0.code.rawValue,
                                                                       errorMessage: $0.message) })
                }))
        }.flatMapError { error in
            request.respond(AlterPartitionReassignmentsResponse(errorCode: ((error as? ControllerError)?.code ?? .unknownServerError).rawValue,
                                                                errorMessage: "\(error)"))
        }
    }
}
