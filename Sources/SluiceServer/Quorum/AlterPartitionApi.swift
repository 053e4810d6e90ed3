import KafkaProtocol
import NIOCore
import SluiceCore

/// AlterPartition v0–3 on the controller: a partition's leader shrinks or expands its ISR.
/// Partitions are decided one by one, each against the image its predecessors left; every
/// partition gets its own error, or the state it has after the change (Kafka's
/// ReplicationControlManager.alterPartition). v2 names topics by id, v3 adds broker epochs.
enum AlterPartitionApi {
    static func handle(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AlterPartitionRequest.self)
        let version = request.version
        let image = quorum.status.image
        var answers: [EventLoopFuture<(Int, Int, AlterPartitionResponse.PartitionData)>] = []
        for (topicIndex, topic) in body.topics.enumerated() {
            let topicId = version >= 2 ? topic.topicId : (image.topic(named: topic.topicName)?.id ?? .zero)
            for (partitionIndex, partition) in topic.partitions.enumerated() {
                let isr = version >= 3 ? partition.newIsrWithEpochs.map(\.brokerId) : partition.newIsr
                var change = ReplicationControl.IsrChange(
                    brokerId: body.brokerId, brokerEpoch: body.brokerEpoch, topicId: topicId, partition: partition.partitionIndex,
                    leaderEpoch: partition.leaderEpoch, partitionEpoch: partition.partitionEpoch, newIsr: isr)
                if version >= 3 {
                    for member in partition.newIsrWithEpochs where member.brokerEpoch >= 0 {
                        change.brokerEpochs[member.brokerId] = member.brokerEpoch
                    }
                }
                let answer = quorum.submit(.alterPartition(change)).hop(to: request.eventLoop).map { reply in
                    guard case .partitionAltered(let state) = reply else {
                        return AlterPartitionResponse.PartitionData(partitionIndex: partition.partitionIndex,
                                                                    errorCode: KafkaErrorCode.unknownServerError.rawValue)
                    }
                    return AlterPartitionResponse.PartitionData(
                        partitionIndex: partition.partitionIndex, errorCode: 0, leaderId: state.leader, leaderEpoch: state.leaderEpoch,
                        isr: state.isr, leaderRecoveryState: state.recoveringFromUncleanElection ? 1 : 0,
                        partitionEpoch: state.partitionEpoch)
                }.recover { error in
                    var code = (error as? ControllerError)?.code ?? .unknownServerError
                    if code == .unknownTopicId && version < 2 { code = .unknownTopicOrPartition }
                    return AlterPartitionResponse.PartitionData(partitionIndex: partition.partitionIndex, errorCode: code.rawValue)
                }.map { (topicIndex, partitionIndex, $0) }
                answers.append(answer)
            }
        }
        return EventLoopFuture.whenAllSucceed(answers, on: request.eventLoop).flatMap { results in
            // NOT_CONTROLLER and a stale broker epoch answer the whole request, as Kafka's do.
            for code in [KafkaErrorCode.notController, .staleBrokerEpoch]
            where results.contains(where: { $0.2.errorCode == code.rawValue }) {
                return request.respond(AlterPartitionResponse(errorCode: code.rawValue))
            }
            let topics = body.topics.enumerated().map { topicIndex, topic in
                AlterPartitionResponse.TopicData(topicName: topic.topicName, topicId: topic.topicId,
                                                 partitions: results.filter { $0.0 == topicIndex }.sorted { $0.1 < $1.1 }.map(\.2))
            }
            return request.respond(AlterPartitionResponse(errorCode: 0, topics: topics))
        }
    }
}
