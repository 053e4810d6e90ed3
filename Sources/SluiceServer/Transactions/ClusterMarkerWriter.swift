import KafkaProtocol
import SluiceCore
import SluiceStorage

/// Writes a transaction's markers in a cluster, as Kafka's TransactionMarkerChannelManager
/// does: each partition's marker goes to its current leader, appended here when that is this
/// broker, otherwise in one WriteTxnMarkers request per leader. A partition without a leader,
/// or a leader that cannot be reached, answers NOT_LEADER_OR_FOLLOWER, which the coordinator
/// retries after its backoff (by then the leader may have moved).
final class ClusterMarkerWriter: TransactionMarkerWriter, @unchecked Sendable {
    // @unchecked: immutable after init; the registry and the channels are thread-safe.
    private let appender: MarkerAppender
    private let channels: NodeChannels
    private let nodeId: Int32
    private let coordinatorOwner: any LogOwnerExecutor

    init(appender: MarkerAppender, channels: NodeChannels, nodeId: Int32, coordinatorOwner: any LogOwnerExecutor) {
        self.appender = appender
        self.channels = channels
        self.nodeId = nodeId
        self.coordinatorOwner = coordinatorOwner
    }

    func write(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, partitions: [TopicPartitionKey],
               completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void) {
        let answers = MarkerAnswers(count: partitions.count, owner: coordinatorOwner, completion: completion)
        var remote: [Int32: [TopicPartitionKey]] = [:]
        for key in partitions {
            // A topic deleted since the partition joined the transaction needs no marker.
            guard let partition = appender.registry.partition(topic: key.topic, index: key.partition) else {
                answers.finish(key, .none)
                continue
            }
            let leader = partition.state.leader
            if leader == nodeId {
                appender.append(marker, producerId: producerId, producerEpoch: producerEpoch, on: key) { answers.finish(key, $0) }
            } else if leader < 0 {
                answers.finish(key, .notLeaderOrFollower)
            } else {
                remote[leader, default: []].append(key)
            }
        }
        for (leader, keys) in remote {
            let request = WriteTxnMarkersRequest(markers: [.init(
                producerId: producerId, producerEpoch: producerEpoch, transactionResult: marker.kind == .commit,
                topics: Dictionary(grouping: keys, by: \.topic).map { .init(name: $0.key, partitionIndexes: $0.value.map(\.partition)) },
                coordinatorEpoch: marker.coordinatorEpoch)])
            let channels = self.channels
            Task {
                var codes: [TopicPartitionKey: KafkaErrorCode] = [:]
                do {
                    let response = try await channels.send(request, version: 1, to: leader, timeout: .seconds(35))
                    for topic in response.markers.flatMap(\.topics) {
                        for result in topic.partitions {
                            codes[TopicPartitionKey(topic: topic.name, partition: result.partitionIndex)] = KafkaErrorCode(rawValue: result.errorCode)
                        }
                    }
                } catch {
                    // Unreachable or timed out: tried again, by which time the leader may have moved.
                }
                for key in keys { answers.finish(key, codes[key] ?? .notLeaderOrFollower) }
            }
        }
    }
}
