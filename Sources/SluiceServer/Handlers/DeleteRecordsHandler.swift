import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// DeleteRecords v0–2: moves each partition's log start offset, with Kafka's checks in its
/// order (Partition.deleteRecordsOnLeader): a topic whose cleanup.policy lacks delete gets
/// POLICY_VIOLATION; -1 means the high watermark; an offset below 0 or past the high watermark
/// is OFFSET_OUT_OF_RANGE; one at or below the log start changes nothing and succeeds.
enum DeleteRecordsHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DeleteRecordsRequest.self)
        let eventLoop = request.eventLoop
        var work: [EventLoopFuture<(String, DeleteRecordsResponse.DeleteRecordsPartitionResult)>] = []
        for topic in body.topics {
            let name = topic.name
            let known = request.broker.registry.topic(named: name)
            for wanted in topic.partitions {
                func failed(_ code: KafkaErrorCode) -> EventLoopFuture<(String, DeleteRecordsResponse.DeleteRecordsPartitionResult)> {
                    eventLoop.makeSucceededFuture((name, .init(partitionIndex: wanted.partitionIndex, lowWatermark: -1, errorCode: code.rawValue)))
                }
                guard let known, wanted.partitionIndex >= 0, Int(wanted.partitionIndex) < known.partitions.count else {
                    work.append(failed(.unknownTopicOrPartition))
                    continue
                }
                guard known.resolved.deleteEnabled else {
                    work.append(failed(.policyViolation))
                    continue
                }
                let partition = known.partitions[Int(wanted.partitionIndex)]
                let owner = (partition.owner as? EventLoopOwner)?.eventLoop ?? eventLoop
                work.append(owner.submit {
                    let log: PartitionLog
                    switch partition.leaderLog() {
                    case .failure(let code):
                        return (name, .init(partitionIndex: wanted.partitionIndex, lowWatermark: -1, errorCode: code.rawValue))
                    case .success(let leaderLog):
                        log = leaderLog
                    }
                    let target = wanted.offset == -1 ? log.highWatermark : wanted.offset
                    do {
                        let start = try log.deleteRecords(before: target)
                        return (name, .init(partitionIndex: wanted.partitionIndex, lowWatermark: start, errorCode: 0))
                    } catch {
                        return (name, .init(partitionIndex: wanted.partitionIndex, lowWatermark: -1,
                                            errorCode: StorageErrorMapping.code(for: error).rawValue))
                    }
                }.hop(to: eventLoop))
            }
        }
        return EventLoopFuture.whenAllSucceed(work, on: eventLoop).flatMap { results in
            var order: [String] = []
            var byTopic: [String: [DeleteRecordsResponse.DeleteRecordsPartitionResult]] = [:]
            for (name, result) in results {
                if byTopic[name] == nil { order.append(name) }
                byTopic[name, default: []].append(result)
            }
            return request.respond(DeleteRecordsResponse(topics: order.map { .init(name: $0, partitions: byTopic[$0] ?? []) }))
        }
    }
}
