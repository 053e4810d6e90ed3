import KafkaProtocol

/// What an idempotent producer has written to one partition: per producer id, its epoch and
/// the sequence ranges and offsets of its last five batches (Kafka keeps five, matching the
/// five requests a producer may have in flight).
public struct ProducerStateTable: Sendable, Hashable {
    public struct Batch: Sendable, Hashable {
        public let firstSequence: Int32
        public let lastSequence: Int32
        public let firstOffset: Int64
        public let lastOffset: Int64
    }

    public struct Producer: Sendable, Hashable {
        public var epoch: Int16
        public var batches: [Batch]
        public var lastTimestamp: Int64
    }

    /// What to do with an incoming idempotent batch.
    public enum Verdict: Sendable, Hashable {
        case append
        /// A retry of a batch already written: answer with its offsets, write nothing.
        case duplicate(Batch)
        /// A gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER.
        case outOfOrder(expected: Int32)
        /// An epoch older than the producer's current one: INVALID_PRODUCER_EPOCH.
        case staleEpoch(current: Int16)
    }

    public static let retainedBatches = 5
    public private(set) var producers: [Int64: Producer] = [:]

    public init() {}

    /// Kafka's rules: an unknown producer is accepted at any sequence; a newer epoch must start
    /// at sequence 0; within an epoch the batch must be a retry of one of the last five or follow
    /// the last one.
    public func verdict(for header: RecordBatchHeader) -> Verdict {
        guard header.producerId >= 0, let producer = producers[header.producerId] else { return .append }
        if header.producerEpoch < producer.epoch { return .staleEpoch(current: producer.epoch) }
        if header.producerEpoch > producer.epoch {
            return header.baseSequence == 0 ? .append : .outOfOrder(expected: 0)
        }
        if let retry = producer.batches.first(where: { $0.firstSequence == header.baseSequence && $0.lastSequence == header.lastSequence }) {
            return .duplicate(retry)
        }
        guard let last = producer.batches.last else { return .append }
        let expected = last.lastSequence == Int32.max ? 0 : last.lastSequence + 1
        return header.baseSequence == expected ? .append : .outOfOrder(expected: expected)
    }

    /// Records a batch written at `firstOffset`.
    public mutating func record(_ header: RecordBatchHeader, firstOffset: Int64, timestamp: Int64) {
        guard header.producerId >= 0 else { return }
        var producer = producers[header.producerId] ?? Producer(epoch: header.producerEpoch, batches: [], lastTimestamp: timestamp)
        if header.producerEpoch != producer.epoch {
            producer.epoch = header.producerEpoch
            producer.batches.removeAll()
        }
        producer.batches.append(Batch(firstSequence: header.baseSequence, lastSequence: header.lastSequence,
                                      firstOffset: firstOffset, lastOffset: firstOffset + Int64(header.lastOffsetDelta)))
        if producer.batches.count > Self.retainedBatches { producer.batches.removeFirst() }
        producer.lastTimestamp = max(producer.lastTimestamp, timestamp)
        producers[header.producerId] = producer
    }

    public mutating func restore(_ producerId: Int64, to previous: Producer?) {
        producers[producerId] = previous
    }

    public func producer(_ id: Int64) -> Producer? { producers[id] }

    /// Forgets producers idle longer than `producer.id.expiration.ms`.
    public mutating func expire(olderThan cutoff: Int64) {
        producers = producers.filter { $0.value.lastTimestamp >= cutoff }
    }

    // MARK: Snapshot

    /// The table as bytes: the offset it is valid up to, then each producer.
    func serialized(validUpTo offset: Int64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(UInt64(bitPattern: offset))
        bytes.appendBigEndian(UInt32(producers.count))
        for (id, producer) in producers.sorted(by: { $0.key < $1.key }) {
            bytes.appendBigEndian(UInt64(bitPattern: id))
            bytes.appendBigEndian(UInt16(bitPattern: producer.epoch))
            bytes.appendBigEndian(UInt64(bitPattern: producer.lastTimestamp))
            bytes.appendBigEndian(UInt8(producer.batches.count))
            for batch in producer.batches {
                bytes.appendBigEndian(UInt32(bitPattern: batch.firstSequence))
                bytes.appendBigEndian(UInt32(bitPattern: batch.lastSequence))
                bytes.appendBigEndian(UInt64(bitPattern: batch.firstOffset))
                bytes.appendBigEndian(UInt64(bitPattern: batch.lastOffset))
            }
        }
        return bytes
    }

    static func parse(_ bytes: [UInt8]) -> (table: ProducerStateTable, validUpTo: Int64)? {
        var cursor = 0
        func take(_ count: Int) -> Int? {
            guard cursor + count <= bytes.count else { return nil }
            defer { cursor += count }
            return cursor
        }
        guard let at = take(8), let countAt = take(4) else { return nil }
        let validUpTo = bytes.readBigEndianInt64(at: at)
        var table = ProducerStateTable()
        for _ in 0..<bytes.readBigEndianUInt32(at: countAt) {
            guard let idAt = take(8), let epochAt = take(2), let timeAt = take(8), let nAt = take(1) else { return nil }
            let epoch = Int16(bitPattern: UInt16(bytes[epochAt]) << 8 | UInt16(bytes[epochAt + 1]))
            var producer = Producer(epoch: epoch, batches: [], lastTimestamp: bytes.readBigEndianInt64(at: timeAt))
            for _ in 0..<bytes[nAt] {
                guard let b = take(24) else { return nil }
                producer.batches.append(Batch(firstSequence: bytes.readBigEndianInt32(at: b), lastSequence: bytes.readBigEndianInt32(at: b + 4),
                                              firstOffset: bytes.readBigEndianInt64(at: b + 8), lastOffset: bytes.readBigEndianInt64(at: b + 16)))
            }
            table.producers[bytes.readBigEndianInt64(at: idAt)] = producer
        }
        return cursor == bytes.count ? (table, validUpTo) : nil
    }
}
