import KafkaProtocol
import NIOCore
import SluiceCore
import Synchronization

/// WriteTxnMarkers v0–1, from a transaction coordinator on another broker: each marker
/// appended on the partitions this broker leads (`MarkerAppender`: acks=all, the group log's
/// through the group coordinator), NOT_LEADER_OR_FOLLOWER where it does not lead, the answer
/// once every partition has one.
enum WriteTxnMarkersHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(WriteTxnMarkersRequest.self)
        let broker = request.broker
        let appender = MarkerAppender(registry: broker.registry, groups: broker.groups, clock: wallClockMilliseconds)
        let total = body.markers.reduce(0) { sum, marker in sum + marker.topics.reduce(0) { $0 + $1.partitionIndexes.count } }
        let promise = request.eventLoop.makePromise(of: OutgoingResponse?.self)
        let (version, correlationId) = (request.version, request.correlationId)
        // Results by marker (its position in the request), topic and partition.
        let results = Mutex<(remaining: Int, codes: [Int: [TopicPartitionKey: KafkaErrorCode]])>((total, [:]))
        @Sendable func respond(_ codes: [Int: [TopicPartitionKey: KafkaErrorCode]]) {
            let response = WriteTxnMarkersResponse(markers: body.markers.enumerated().map { position, marker in
                .init(producerId: marker.producerId, topics: marker.topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitionIndexes.map {
                        .init(partitionIndex: $0,
                              errorCode: (codes[position]?[TopicPartitionKey(topic: topic.name, partition: $0)] ?? .unknownServerError).rawValue)
                    })
                })
            })
            promise.completeWith(Result { try OutgoingResponse.encode(response, version: version, correlationId: correlationId) })
        }
        guard total > 0 else {
            respond([:])
            return promise.futureResult
        }
        for (position, marker) in body.markers.enumerated() {
            let kind: EndTransactionMarker.Kind = marker.transactionResult ? .commit : .abort
            let endMarker = EndTransactionMarker(kind: kind, coordinatorEpoch: marker.coordinatorEpoch)
            for topic in marker.topics {
                for index in topic.partitionIndexes {
                    let key = TopicPartitionKey(topic: topic.name, partition: index)
                    appender.append(endMarker, producerId: marker.producerId, producerEpoch: marker.producerEpoch, on: key) { code in
                        let done = results.withLock { state -> [Int: [TopicPartitionKey: KafkaErrorCode]]? in
                            state.codes[position, default: [:]][key] = code
                            state.remaining -= 1
                            return state.remaining == 0 ? state.codes : nil
                        }
                        if let done { respond(done) }
                    }
                }
            }
        }
        return promise.futureResult
    }
}
