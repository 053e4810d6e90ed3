import KafkaProtocol
import SluiceCore
import SluiceStorage

/// Writes one transaction marker on one partition this broker leads, as Kafka's broker does
/// for WriteTxnMarkers: through the partition layer (refused where this broker is not the
/// leader), answered once the in-sync replicas hold it (acks=all). A partition whose topic is
/// gone needs no marker. A partition of the group log (`__consumer_offsets`: a transaction that
/// committed offsets) gets its marker from the group coordinator, which then settles the
/// offsets. Used by the coordinator's own writes and by the WriteTxnMarkers handler.
struct MarkerAppender: Sendable {
    let registry: TopicRegistry
    let groups: GroupCoordinator?
    let clock: @Sendable () -> Int64
    /// How long a marker waits for the in-sync replicas before it is reported timed out.
    var replicationTimeoutMs: Int64 = 30_000

    /// `completion` runs on the partition's (or the group coordinator's) owner.
    func append(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, on key: TopicPartitionKey,
                completion: @escaping @Sendable (KafkaErrorCode) -> Void) {
        if key.topic == OffsetsTopicStore.topic, let groups {
            // A broker of its own has no such topic: its group log stands for partition 0. In a
            // cluster the group store appends through the partition layer, which refuses where
            // this broker does not lead the partition.
            return groups.owner.execute {
                groups.writeTransactionMarker(marker, producerId: producerId, producerEpoch: producerEpoch,
                                              offsetsPartition: key.partition) { completion($0) }
            }
        }
        guard let partition = registry.partition(topic: key.topic, index: key.partition) else { return completion(.none) }
        let (clock, timeoutMs) = (self.clock, replicationTimeoutMs)
        partition.owner.execute {
            partition.appendReplicated(timeoutMs: timeoutMs, { log, done in
                try log.appendTransactionMarker(marker, producerId: producerId, producerEpoch: producerEpoch, nowMs: clock()) {
                    done($0.map { $0.lastOffset + 1 }.mapError { $0 })
                }
            }, completion: { result in
                switch result {
                case .success: completion(.none)
                case .failure(let error as TopicError): completion(error.code)
                case .failure(let error): completion(StorageErrorMapping.code(for: error))
                }
            })
        }
    }
}
