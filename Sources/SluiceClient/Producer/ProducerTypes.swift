import Glibc
import KafkaProtocol
import NIOCore

/// A record to produce.
public struct ProducerRecord: Sendable {
    public var topic: String
    /// nil: chosen by the partitioner (murmur2 of the key, or sticky for unkeyed records).
    public var partition: Int32?
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    /// Milliseconds since the epoch; nil means now (CreateTime).
    public var timestamp: Int64?

    public init(topic: String, partition: Int32? = nil, key: ByteBuffer? = nil, value: ByteBuffer?,
                headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    public init(topic: String, partition: Int32? = nil, key: String? = nil, value: String, headers: [RecordHeader] = []) {
        self.init(topic: topic, partition: partition, key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value),
                  headers: headers)
    }
}

/// Where an acknowledged record landed.
public struct RecordMetadata: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    /// -1 with acks=0, where the broker does not answer.
    public var offset: Int64
    /// The record's timestamp, or the broker's append time when the topic uses LogAppendTime.
    public var timestamp: Int64
}

/// The outcome of a record sent with `enqueue`.
public struct DeliveryReport: Sendable {
    public var id: UInt64
    public var result: Result<RecordMetadata, KafkaClientError>
}

/// The outcomes of records sent with `enqueue`. They travel a batch at a time (one stream
/// element per acknowledged record batch, which keeps the per-record cost low); iterating
/// yields them one by one. One task should iterate.
public struct DeliveryReports: AsyncSequence, Sendable {
    public typealias Element = DeliveryReport
    let batches: AsyncStream<[DeliveryReport]>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: AsyncStream<[DeliveryReport]>.AsyncIterator
        var pending: [DeliveryReport] = []
        var index = 0

        public mutating func next() async -> DeliveryReport? {
            while index == pending.count {
                guard let batch = await inner.next() else { return nil }
                pending = batch
                index = 0
            }
            defer { index += 1 }
            return pending[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: batches.makeAsyncIterator()) }
}

/// Producer settings; defaults follow the Java client where it has one.
public struct KafkaProducerConfig: Sendable {
    public var client: KafkaClientConfig
    /// `acks`: 0 (no answer), 1 (the leader wrote it) or -1 (all in-sync replicas; the default).
    public var acks: Int16 = -1
    /// `compression.type`
    public var compression: CompressionCodec = .none
    public var compressionLevel: Int32? = nil
    /// `linger.ms`: how long a batch waits for more records before it is sent.
    public var linger: Duration = .milliseconds(5)
    /// `batch.size`: a partition's batch is sent once it holds this many bytes.
    public var batchSize: Int = 64 * 1024
    /// `enable.idempotence`: producer id and sequence numbers, so retries never duplicate or
    /// reorder records. Requires acks=-1.
    public var enableIdempotence = true
    /// `max.in.flight.requests.per.connection`, applied per partition (at most 5 with idempotence).
    public var maxInFlightPerPartition = 5
    /// `delivery.timeout.ms`: a record fails once this long has passed since it was sent.
    public var deliveryTimeout: Duration = .seconds(120)
    /// Records accepted but not yet acknowledged before `send` waits (the role of `buffer.memory`).
    public var maxBufferedRecords = 500_000
    /// Producers may create topics by asking for their metadata (Java's default for producers).
    public var allowAutoCreateTopics = true
    /// `transactional.id`: makes the producer transactional (it needs idempotence). Records are
    /// then sent only inside a transaction (`beginTransaction` to `commitTransaction` or
    /// `abortTransaction`), after one `initTransactions`. A producer that starts with the same
    /// id fences this one.
    public var transactionalId: String?
    /// `transaction.timeout.ms`: the coordinator aborts a transaction open longer than this.
    public var transactionTimeout: Duration = .seconds(60)
    /// `max.block.ms`: how long `initTransactions`, `sendOffsetsToTransaction`,
    /// `commitTransaction` and `abortTransaction` keep retrying before they fail with a timeout.
    public var maxBlock: Duration = .seconds(60)

    public init(client: KafkaClientConfig) {
        self.client = client
    }
}

func currentTimeMillis() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// What a producer has done since it started.
public struct ProducerStatistics: Sendable, Hashable {
    /// Batches sent again after a connection failure, timeout or retriable error. With
    /// idempotence the broker recognises those it already appended.
    public var batchesRetried = 0
}
