import KafkaProtocol
import NIOCore
import SluiceCore

/// AlterPartitionReassignments v0 (cluster only): forwarded to the active controller.
enum AlterPartitionReassignmentsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AlterPartitionReassignmentsRequest.self)
        guard let cluster = request.broker.cluster else {
            throw CloseConnection(reason: "AlterPartitionReassignments is served only by a cluster")
        }
        return request.forwardToController(body, cluster: cluster, retryWhen: { response in
            response.errorCode == KafkaErrorCode.notController.rawValue
        }, failed: { reason in
            AlterPartitionReassignmentsResponse(errorCode: KafkaErrorCode.requestTimedOut.rawValue, errorMessage: reason)
        })
    }
}

/// ListPartitionReassignments v0 (cluster only): the reassignments in progress, from this
/// broker's metadata image (null topics: every partition).
enum ListPartitionReassignmentsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(ListPartitionReassignmentsRequest.self)
        guard let cluster = request.broker.cluster else {
            throw CloseConnection(reason: "ListPartitionReassignments is served only by a cluster")
        }
        let image = cluster.quorum.status.image
        let wanted: [(TopicMetadataImage, [Int32])] = body.topics.map { topics in
            topics.compactMap { topic in image.topic(named: topic.name).map { ($0, topic.partitionIndexes) } }
        } ?? image.topicsById.values.sorted { $0.name < $1.name }.map { ($0, $0.partitions.keys.sorted()) }
        var topics: [ListPartitionReassignmentsResponse.OngoingTopicReassignment] = []
        for (topic, indexes) in wanted {
            let ongoing = indexes.compactMap { index -> ListPartitionReassignmentsResponse.OngoingPartitionReassignment? in
                guard let partition = topic.partitions[index],
                      !partition.addingReplicas.isEmpty || !partition.removingReplicas.isEmpty else { return nil }
                return .init(partitionIndex: index, replicas: partition.replicas, addingReplicas: partition.addingReplicas,
                             removingReplicas: partition.removingReplicas)
            }
            if !ongoing.isEmpty { topics.append(.init(name: topic.name, partitions: ongoing)) }
        }
        return request.respond(ListPartitionReassignmentsResponse(errorCode: 0, topics: topics))
    }
}
