import KafkaProtocol
import NIOCore

/// What the coordinator keeps per transactional id (Kafka's TransactionMetadata), and its
/// record in the transaction log: key `TransactionLogKey` v0, value `TransactionLogValue` v0
/// (v1, flexible, when it carries the previous or next producer id), a tombstone when the id
/// expires.
public struct TransactionMetadata: Hashable, Sendable {
    public var transactionalId: String
    public var producerId: Int64
    /// The producer id before an epoch exhaustion gave a new one (-1: none), so a retried
    /// InitProducerId naming the old id still finds it (KIP-360).
    public var previousProducerId: Int64 = -1
    public var producerEpoch: Int16
    /// The epoch before the last bump (-1: none): a retried InitProducerId may name it.
    public var lastProducerEpoch: Int16 = -1
    public var timeoutMs: Int32
    public var state: TransactionState
    public var partitions: Set<TopicPartitionKey>
    public var startTimestampMs: Int64
    public var lastUpdateTimestampMs: Int64

    public init(transactionalId: String, producerId: Int64, producerEpoch: Int16, timeoutMs: Int32, state: TransactionState,
                partitions: Set<TopicPartitionKey> = [], startTimestampMs: Int64 = -1, lastUpdateTimestampMs: Int64) {
        self.transactionalId = transactionalId
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.timeoutMs = timeoutMs
        self.state = state
        self.partitions = partitions
        self.startTimestampMs = startTimestampMs
        self.lastUpdateTimestampMs = lastUpdateTimestampMs
    }

    /// KIP-890 part 1: why a transactional write of `producerId` at `producerEpoch` to
    /// `partition` (a data partition, or the group log's for TxnOffsetCommit) does not belong to
    /// `open`, the transactional id's open transaction: none open, or another producer's
    /// (INVALID_TXN_STATE), a fenced epoch (INVALID_PRODUCER_EPOCH), a partition never added
    /// (INVALID_TXN_STATE). Nil when it belongs.
    public static func verificationError(_ open: TransactionMetadata?, producerId: Int64, producerEpoch: Int16,
                                         partition: TopicPartitionKey) -> KafkaErrorCode? {
        guard let open, open.state == .ongoing, open.producerId == producerId else { return .invalidTxnState }
        guard open.producerEpoch == producerEpoch else { return .invalidProducerEpoch }
        return open.partitions.contains(partition) ? nil : .invalidTxnState
    }

    // MARK: The transaction log record

    /// The record's key: version int16 0, then the key struct.
    public static func recordKey(_ transactionalId: String) throws -> ByteBuffer {
        var key = ByteBuffer()
        key.writeInteger(Int16(0))
        try TransactionLogKey(transactionalId: transactionalId).write(to: &key, version: 0)
        return key
    }

    /// The record's value: version int16, then the value struct; partitions sorted (Kafka's
    /// are grouped by topic).
    public func recordValue() throws -> ByteBuffer {
        var byTopic: [String: [Int32]] = [:]
        for partition in partitions { byTopic[partition.topic, default: []].append(partition.partition) }
        let version: Int16 = previousProducerId >= 0 ? 1 : 0
        let value = TransactionLogValue(
            producerId: producerId, previousProducerId: previousProducerId, producerEpoch: producerEpoch, transactionTimeoutMs: timeoutMs,
            transactionStatus: state.rawValue,
            transactionPartitions: byTopic.keys.sorted().map { .init(topic: $0, partitionIds: byTopic[$0]!.sorted()) },
            transactionLastUpdateTimestampMs: lastUpdateTimestampMs, transactionStartTimestampMs: startTimestampMs)
        var buffer = ByteBuffer()
        buffer.writeInteger(version)
        try value.write(to: &buffer, version: version)
        return buffer
    }

    /// A record of the transaction log: the id and its metadata, or nil for a tombstone.
    public static func decode(key keyBytes: ByteBuffer, value valueBytes: ByteBuffer?) throws -> (String, TransactionMetadata?) {
        var key = keyBytes
        let keyVersion: Int16 = try key.readKafkaInteger()
        guard keyVersion == 0 else { throw TransactionLogError(description: "transaction log key version \(keyVersion)") }
        let id = try TransactionLogKey(from: &key, version: 0).transactionalId
        guard var value = valueBytes else { return (id, nil) }
        let version: Int16 = try value.readKafkaInteger()
        guard TransactionLogValue.validVersions.contains(version) else {
            throw TransactionLogError(description: "transaction log value version \(version)")
        }
        let decoded = try TransactionLogValue(from: &value, version: version)
        guard let state = TransactionState(rawValue: decoded.transactionStatus) else {
            throw TransactionLogError(description: "transaction state \(decoded.transactionStatus)")
        }
        var partitions = Set<TopicPartitionKey>()
        for topic in decoded.transactionPartitions ?? [] {
            for index in topic.partitionIds { partitions.insert(TopicPartitionKey(topic: topic.topic, partition: index)) }
        }
        var metadata = TransactionMetadata(transactionalId: id, producerId: decoded.producerId, producerEpoch: decoded.producerEpoch,
                                           timeoutMs: decoded.transactionTimeoutMs, state: state, partitions: partitions,
                                           startTimestampMs: decoded.transactionStartTimestampMs,
                                           lastUpdateTimestampMs: decoded.transactionLastUpdateTimestampMs)
        metadata.previousProducerId = decoded.previousProducerId
        return (id, metadata)
    }
}

/// A transaction log record this version cannot read.
public struct TransactionLogError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
