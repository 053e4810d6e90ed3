import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// OffsetForLeaderEpoch v2–4: after the partition layer's checks (leadership, CurrentLeaderEpoch),
/// the end offset of the requested epoch from the log's leader-epoch cache, as Kafka's
/// LeaderEpochFileCache.endOffsetFor gives it: the latest epoch ends at the log end; an earlier
/// one where the next began (named by the largest epoch the log has at or below it); a later
/// one, or -1, gives (-1, -1).
enum OffsetForLeaderEpochHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(OffsetForLeaderEpochRequest.self)
        let eventLoop = request.eventLoop
        var work: [EventLoopFuture<(String, OffsetForLeaderEpochResponse.EpochEndOffset)>] = []
        for topic in body.topics {
            for wanted in topic.partitions {
                let name = topic.topic
                guard let partition = request.broker.registry.partition(topic: name, index: wanted.partition) else {
                    work.append(eventLoop.makeSucceededFuture((name, .init(
                        errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue, partition: wanted.partition))))
                    continue
                }
                let owner = (partition.owner as? EventLoopOwner)?.eventLoop ?? eventLoop
                work.append(owner.submit {
                    let log: PartitionLog
                    switch partition.leaderLog(currentLeaderEpoch: wanted.currentLeaderEpoch) {
                    case .failure(let code):
                        return (name, .init(errorCode: code.rawValue, partition: wanted.partition))
                    case .success(let leaderLog):
                        log = leaderLog
                    }
                    let end = log.epochs.endOffset(for: wanted.leaderEpoch, logEndOffset: log.logEndOffset)
                    return (name, .init(errorCode: 0, partition: wanted.partition, leaderEpoch: end.epoch, endOffset: end.endOffset))
                }.hop(to: eventLoop))
            }
        }
        return EventLoopFuture.whenAllSucceed(work, on: eventLoop).flatMap { results in
            var order: [String] = []
            var byTopic: [String: [OffsetForLeaderEpochResponse.EpochEndOffset]] = [:]
            for (name, result) in results {
                if byTopic[name] == nil { order.append(name) }
                byTopic[name, default: []].append(result)
            }
            return request.respond(OffsetForLeaderEpochResponse(topics: order.map { .init(topic: $0, partitions: byTopic[$0]!) }))
        }
    }
}
