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
            var order: [String] = []
            var byTopic: [String: [AlterPartitionReassignmentsResponse.ReassignablePartitionResponse]] = [:]
            for result in results {
                if byTopic[result.topic] == nil { order.append(result.topic) }
                byTopic[result.topic, default: []].append(.init(partitionIndex: result.partition, errorCode: result.code.rawValue,
                                                                errorMessage: result.message))
            }
            return request.respond(AlterPartitionReassignmentsResponse(
                errorCode: 0, responses: order.map { .init(name: $0, partitions: byTopic[$0] ?? []) }))
        }.flatMapError { error in
            request.respond(AlterPartitionReassignmentsResponse(errorCode: ((error as? ControllerError)?.code ?? .unknownServerError).rawValue,
                                                                errorMessage: "\(error)"))
        }
    }
}
