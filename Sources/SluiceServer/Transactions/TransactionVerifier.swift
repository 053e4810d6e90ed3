import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// KIP-890 part 1 where the transaction coordinator is another broker: before a partition
/// leader takes a producer's first transactional write of a transaction, it asks the
/// coordinator (AddPartitionsToTxn v4 with verifyOnly) whether the partition is in the
/// producer's open transaction, so a late write from an ended transaction cannot open a
/// hanging one. A partition whose producer state already holds that producer's open
/// transaction at the same epoch needs no question, as in Kafka. Coordinator trouble (none
/// known, not reachable, moving, loading) is answered NOT_ENOUGH_REPLICAS, which producers
/// retry, as Kafka's AddPartitionsToTxnManager answers it.
struct TransactionVerifier: Sendable {
    let channels: NodeChannels

    /// Per partition: `.none` where the write may go ahead, else the produce error.
    func verify(_ transactionalId: String, producerId: Int64, producerEpoch: Int16, partitions: [(TopicPartitionKey, Partition)],
                cluster: ClusterNode) async -> [TopicPartitionKey: KafkaErrorCode] {
        var codes: [TopicPartitionKey: KafkaErrorCode] = [:]
        var unverified: [TopicPartitionKey] = []
        for (key, partition) in partitions {
            if await Self.hasOpenTransaction(partition, producerId: producerId, producerEpoch: producerEpoch) {
                codes[key] = KafkaErrorCode.none
            } else {
                unverified.append(key)
            }
        }
        guard !unverified.isEmpty else { return codes }
        let unavailable = Dictionary(unverified.map { ($0, KafkaErrorCode.notEnoughReplicas) }, uniquingKeysWith: { first, _ in first })
        guard let coordinator = cluster.transactionCoordinator(of: transactionalId, image: cluster.quorum.status.image) else {
            return codes.merging(unavailable) { _, new in new }
        }
        let request = AddPartitionsToTxnRequest(transactions: [.init(
            transactionalId: transactionalId, producerId: producerId, producerEpoch: producerEpoch, verifyOnly: true,
            topics: Dictionary(grouping: unverified, by: \.topic).map { .init(name: $0.key, partitions: $0.value.map(\.partition)) })])
        do {
            let response = try await channels.send(request, version: 4, to: coordinator.id, timeout: .seconds(10))
            if response.errorCode != 0 {
                let code = Self.forProducer(KafkaErrorCode(rawValue: response.errorCode))
                return codes.merging(unverified.map { ($0, code) }) { _, new in new }
            }
            for result in response.resultsByTransaction.flatMap(\.topicResults) {
                for partition in result.resultsByPartition {
                    let code = KafkaErrorCode(rawValue: partition.partitionErrorCode)
                    codes[TopicPartitionKey(topic: result.name, partition: partition.partitionIndex)] = Self.forProducer(code)
                }
            }
            for key in unverified where codes[key] == nil { codes[key] = .notEnoughReplicas }
            return codes
        } catch {
            return codes.merging(unavailable) { _, new in new }
        }
    }

    /// What the producer hears for the coordinator's answer: the coordinator's own trouble
    /// becomes retriable for the producer.
    static func forProducer(_ code: KafkaErrorCode) -> KafkaErrorCode {
        switch code {
        case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress, .concurrentTransactions: return .notEnoughReplicas
        default: return code
        }
    }

    /// Whether this replica's producer state already holds the producer's open transaction at
    /// this epoch (a write of it was verified before).
    private static func hasOpenTransaction(_ partition: Partition, producerId: Int64, producerEpoch: Int16) async -> Bool {
        guard let loop = (partition.owner as? EventLoopOwner)?.eventLoop else { return false }
        let open = try? await loop.submit { () -> Bool in
            guard let producer = partition.log?.producerState.producers[producerId] else { return false }
            return producer.epoch == producerEpoch && producer.currentTxnFirstOffset != nil
        }.get()
        return open ?? false
    }
}
