import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// OffsetForLeaderEpoch v2–4: after the CurrentLeaderEpoch check, the end offset of the
/// requested epoch as Kafka's LeaderEpochFileCache.endOffsetFor gives it. A single broker has
/// one epoch (0), which starts at offset 0: asking for it gives the log end offset; asking for
/// a later one, or for -1, gives (-1, -1).
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
                    if let fenced = partition.leaderEpochError(current: wanted.currentLeaderEpoch) {
                        return (name, .init(errorCode: fenced.rawValue, partition: wanted.partition))
                    }
                    let epoch = partition.log.leaderEpoch
                    guard wanted.leaderEpoch >= 0, wanted.leaderEpoch <= epoch else {
                        return (name, .init(errorCode: 0, partition: wanted.partition, leaderEpoch: -1, endOffset: -1))
                    }
                    return (name, .init(errorCode: 0, partition: wanted.partition, leaderEpoch: epoch, endOffset: partition.log.logEndOffset))
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
