import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// ListOffsets v1–8: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4: the log
/// start, without tiered storage), and the first offset whose record timestamp is at or after a
/// given time. Nothing past the high watermark is visible, nor, under read_committed (v2+,
/// isolation level 1), past the last stable offset: latest is then the last stable offset and
/// a lookup that lands at or beyond it finds nothing, as in Kafka. Answers that found an offset
/// carry the leader epoch (v4+); those that found none carry -1 everywhere, as Kafka's do.
enum ListOffsetsHandler {
    static let latest: Int64 = -1
    static let earliest: Int64 = -2
    static let maxTimestamp: Int64 = -3
    static let earliestLocal: Int64 = -4

    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(ListOffsetsRequest.self)
        let registry = request.broker.registry
        let eventLoop = request.eventLoop
        var lookups: [EventLoopFuture<(String, ListOffsetsResponse.ListOffsetsPartitionResponse)>] = []
        for topic in body.topics {
            for wanted in topic.partitions {
                guard let partition = registry.partition(topic: topic.name, index: wanted.partitionIndex) else {
                    lookups.append(eventLoop.makeSucceededFuture((topic.name, .init(
                        partitionIndex: wanted.partitionIndex, errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue,
                        timestamp: -1, offset: -1))))
                    continue
                }
                let owner = (partition.owner as? EventLoopOwner)?.eventLoop ?? eventLoop
                let name = topic.name
                let version = request.version
                let readCommitted = version >= 2 && body.isolationLevel == 1
                lookups.append(owner.submit {
                    switch partition.leaderLog(currentLeaderEpoch: version >= 4 ? wanted.currentLeaderEpoch : -1) {
                    case .failure(let code):
                        return (name, .init(partitionIndex: wanted.partitionIndex, errorCode: code.rawValue, timestamp: -1, offset: -1))
                    case .success(let log):
                        return (name, lookup(wanted, in: log, version: version, readCommitted: readCommitted))
                    }
                }.hop(to: eventLoop))
            }
        }
        return EventLoopFuture.whenAllSucceed(lookups, on: eventLoop).flatMap { results in
            var order: [String] = []
            var byTopic: [String: [ListOffsetsResponse.ListOffsetsPartitionResponse]] = [:]
            for (name, partition) in results {
                if byTopic[name] == nil { order.append(name) }
                byTopic[name, default: []].append(partition)
            }
            return request.respond(ListOffsetsResponse(topics: order.map { .init(name: $0, partitions: byTopic[$0]!) }))
        }
    }

    /// Runs on the partition's owner.
    static func lookup(_ wanted: ListOffsetsRequest.ListOffsetsPartition, in log: PartitionLog, version: Int16,
                       readCommitted: Bool = false) -> ListOffsetsResponse.ListOffsetsPartitionResponse {
        var response = ListOffsetsResponse.ListOffsetsPartitionResponse(
            partitionIndex: wanted.partitionIndex, errorCode: 0, timestamp: -1, offset: -1, leaderEpoch: -1)
        do {
            switch wanted.timestamp {
            case latest:
                response.offset = readCommitted ? log.lastStableOffset : log.highWatermark
            case earliest, earliestLocal:
                response.offset = log.logStartOffset
            case maxTimestamp:
                if let batch = try log.batchWithMaxTimestamp() {
                    // The first record holding the batch's max timestamp.
                    var best: (Int64, Int64)?
                    let base = batch.header.baseTimestamp
                    if batch.header.attributes.timestampType == .logAppendTime {
                        best = (batch.header.baseOffset, batch.header.maxTimestamp)
                    } else {
                        try batch.forEachRecord(decompressionLimit: 256 << 20) { record in
                            let timestamp = base + record.timestampDelta
                            if best == nil || timestamp > best!.1 { best = (batch.header.baseOffset + Int64(record.offsetDelta), timestamp) }
                        }
                    }
                    if let best {
                        response.offset = best.0
                        response.timestamp = best.1
                    }
                }
            case let timestamp where timestamp >= 0:
                if let found = try log.offset(forTimestamp: timestamp) {
                    response.offset = found.offset
                    response.timestamp = found.timestamp
                }
            default:
                response.errorCode = KafkaErrorCode.invalidRequest.rawValue
            }
        } catch {
            response.errorCode = StorageErrorMapping.code(for: error).rawValue
        }
        if readCommitted, wanted.timestamp != latest, wanted.timestamp != earliest, wanted.timestamp != earliestLocal,
           response.offset >= log.lastStableOffset {
            response.offset = -1
            response.timestamp = -1
        }
        // The epoch (v4+) of the offset found, from the leader-epoch cache; the latest offset
        // carries the latest epoch.
        if version >= 4 && response.errorCode == 0 && response.offset >= 0 {
            response.leaderEpoch = (wanted.timestamp == latest ? log.epochs.latestEpoch : log.epochs.epoch(forOffset: response.offset)) ?? -1
        }
        return response
    }
}
