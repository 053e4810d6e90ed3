import KafkaProtocol
import NIOCore

/// The records of one batch, as the producer tracks them until they are acknowledged: plain
/// arrays (delivery id, timestamp), with the rare `send` continuations kept aside.
struct BatchRecords {
    /// Delivery ids of `enqueue`d records; 0 for records sent with `send`.
    var ids: [UInt64] = []
    var timestamps: [Int64] = []
    var awaiting: [Int: CheckedContinuation<RecordMetadata, any Error>] = [:]

    var count: Int { ids.count }

    mutating func append(_ completion: RecordCompletion, timestamp: Int64) {
        switch completion {
        case .report(let id):
            ids.append(id)
        case .awaiting(let continuation):
            awaiting[ids.count] = continuation
            ids.append(0)
        }
        timestamps.append(timestamp)
    }
}

// MARK: - State

enum RecordCompletion: Sendable {
    case awaiting(CheckedContinuation<RecordMetadata, any Error>)
    case report(UInt64)
}

/// The batch records are being added to. A class: as a struct inside `PartitionQueue.open`,
/// Swift copied the whole batch (a retain and release of each of its buffers and arrays) on
/// most accesses through the optional, for every record; a reference is retained at most once.
/// Its contents are one stored property so that adding a record costs one exclusivity check.
final class OpenBatch {
    struct Contents {
        var builder: RecordBatchBuilder
        var records = BatchRecords()

        /// Adds a record; returns the batch's size as it would be sent uncompressed.
        mutating func append(_ record: ProducerRecord, completion: RecordCompletion, timestamp: Int64) -> Int {
            builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: timestamp)
            records.append(completion, timestamp: timestamp)
            return builder.estimatedSize
        }
    }

    var contents: Contents
    let createdAt: ContinuousClock.Instant

    init(compression: CompressionCodec, createdAt: ContinuousClock.Instant, batchSize: Int) {
        // Room for a whole batch up to 128 KiB; larger ones grow (many partitions may be open).
        contents = Contents(builder: RecordBatchBuilder(compression: compression,
                                                        initialCapacity: min(batchSize, 128 << 10) + RecordBatchHeader.size))
        self.createdAt = createdAt
    }

    func append(_ record: ProducerRecord, completion: RecordCompletion, timestamp: Int64) -> Int {
        contents.append(record, completion: completion, timestamp: timestamp)
    }
}

struct SealedBatch {
    var builder: RecordBatchBuilder
    var records: BatchRecords
    let createdAt: ContinuousClock.Instant
    /// Assigned when first sent (idempotence), kept across retries.
    var sequence: Int32?
    var encoded: ByteBuffer?
    var attempts = 0
    var notBefore: ContinuousClock.Instant?
}

struct InFlightBatch: @unchecked Sendable {
    // @unchecked: the continuations inside are Sendable; the builder's buffers are owned here.
    let partition: TopicPartition
    var batch: SealedBatch
    let producerId: Int64
    let producerEpoch: Int16
}

struct PartitionQueue {
    var open: OpenBatch?
    var ready: [SealedBatch] = []
    var inFlight = 0
    var nextSequence: Int32 = 0
    /// A batch is being retried: send one at a time until it lands, so order holds.
    var retrying = false

    mutating func sealOpen() {
        guard let open = open.take() else { return }
        ready.append(SealedBatch(builder: open.contents.builder, records: open.contents.records, createdAt: open.createdAt))
    }

    /// A batch open or waiting to be sent.
    var hasWork: Bool { open != nil || !ready.isEmpty }
}

enum AppendOutcome {
    /// Queued; `wake` when the sender must look (a new linger deadline, or a full batch).
    case appended(id: UInt64, wake: Bool)
    case unknownTopic
    case full
    case failed(KafkaClientError)
}

struct ProducerState {
    /// The queues of every topic produced to, created once its partition count is known.
    var topics: [String: TopicQueues] = [:]
    /// The topic of the last record: most producers write one topic, and this skips hashing it.
    var lastTopic: TopicQueues?
    var nextId: UInt64 = 0
    var buffered = 0
    var statistics = ProducerStatistics()
    var flushRequested = false
    var flushWaiters: [CheckedContinuation<Void, Never>] = []
    var spaceWaiters: [CheckedContinuation<Bool, Never>] = []
    var closed = false
    var producerId: Int64 = -1
    var producerEpoch: Int16 = -1
    /// nil unless the producer has a transactional id.
    var transaction: TransactionProgress?
}

/// One topic's partition queues. A class so the hot path can keep a reference to the last
/// topic and mutate its queues in place; only touched under the producer's lock.
final class TopicQueues {
    let name: String
    var partitions: [PartitionQueue]
    /// The partition unkeyed records go to until its batch is sealed (KIP-480).
    var sticky: Int32?

    init(name: String, partitionCount: Int) {
        self.name = name
        partitions = Array(repeating: PartitionQueue(), count: max(partitionCount, 1))
    }
}

extension ProducerState {
    /// Takes every batch not yet sent (open or waiting, retries included) out of the queues,
    /// for an abort; what is in flight stays and is waited for.
    mutating func takeUnsent() -> [(TopicPartition, SealedBatch)] {
        var taken: [(TopicPartition, SealedBatch)] = []
        for topic in topics.values {
            for index in topic.partitions.indices {
                topic.partitions[index].sealOpen()
                let partition = TopicPartition(topic.name, Int32(index))
                for batch in topic.partitions[index].ready { taken.append((partition, batch)) }
                topic.partitions[index].ready.removeAll()
                topic.partitions[index].retrying = false
            }
            topic.sticky = nil
        }
        return taken
    }

    /// A new producer id or epoch: every partition's sequence starts again at 0.
    mutating func resetSequences() {
        for topic in topics.values {
            for index in topic.partitions.indices { topic.partitions[index].nextSequence = 0 }
        }
    }

    func queue(_ partition: TopicPartition) -> PartitionQueue? {
        guard let topic = topics[partition.topic], topic.partitions.indices.contains(Int(partition.partition)) else { return nil }
        return topic.partitions[Int(partition.partition)]
    }

    /// Partitions and queues one record, mutating the partition's open batch in place. A nil
    /// `completion` means `enqueue`: the record gets the next id and counts against the buffer.
    mutating func append(_ record: ProducerRecord, completion: RecordCompletion?, config: KafkaProducerConfig) -> AppendOutcome {
        if closed { return .failed(KafkaClientError(kind: .shutdown, message: "producer closed")) }
        if let refusal = transaction?.refusal { return .failed(refusal) }
        if completion == nil && buffered >= config.maxBufferedRecords { return .full }
        let topic: TopicQueues
        if let last = lastTopic, last.name == record.topic {
            topic = last
        } else if let known = topics[record.topic] {
            topic = known
            lastTopic = known
        } else {
            return .unknownTopic
        }
        let count = Int32(topic.partitions.count)
        let partition: Int32
        if let chosen = record.partition {
            guard chosen >= 0, chosen < count else {
                return .failed(.broker(.unknownTopicOrPartition, "\(record.topic) has \(count) partitions (0 to \(count - 1)); there is no partition \(chosen)"))
            }
            partition = chosen
        } else if let key = record.key {
            partition = Partitioner.partition(forKey: key, count: count)
        } else if let sticky = topic.sticky {
            partition = sticky
        } else {
            partition = Int32.random(in: 0..<count)
            topic.sticky = partition
        }
        let id: UInt64
        let recordCompletion: RecordCompletion
        if let completion {
            id = 0
            recordCompletion = completion
        } else {
            nextId += 1
            id = nextId
            recordCompletion = .report(id)
        }
        buffered += 1
        let timestamp = record.timestamp ?? currentTimeMillis()
        let (opened, sealed) = topic.partitions[Int(partition)]
            .append(record, completion: recordCompletion, timestamp: timestamp, config: config)
        // The sticky partition moves on once its batch is full (KIP-480).
        if sealed && record.key == nil && record.partition == nil { topic.sticky = nil }
        return .appended(id: id, wake: opened || sealed)
    }
}

extension PartitionQueue {
    /// Adds a record to the open batch (opening one, with its linger deadline, if needed) and
    /// seals the batch once it reaches `batchSize`.
    mutating func append(_ record: ProducerRecord, completion: RecordCompletion, timestamp: Int64,
                         config: KafkaProducerConfig) -> (opened: Bool, sealed: Bool) {
        let batch: OpenBatch
        let opened: Bool
        if let open {
            batch = open
            opened = false
        } else {
            batch = OpenBatch(compression: config.compression, createdAt: .now, batchSize: config.batchSize)
            open = batch
            opened = true
        }
        let size = batch.append(record, completion: completion, timestamp: timestamp)
        guard size >= config.batchSize else { return (opened, false) }
        sealOpen()
        return (opened, true)
    }
}
