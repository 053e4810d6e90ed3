import KafkaProtocol

/// What an idempotent or transactional producer has written to one partition: per producer id,
/// its epoch, the sequence ranges and offsets of its last five batches (Kafka keeps five,
/// matching the five requests a producer may have in flight), and, as Kafka's
/// ProducerStateManager keeps it, the first offset of its open transaction and the epoch of the
/// coordinator that wrote its last marker.
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
        /// The coordinator epoch of the last transaction marker written for it (-1: none).
        public var coordinatorEpoch: Int32 = -1
        /// Where its open transaction began (Kafka's currentTxnFirstOffset): a transactional
        /// batch opens one, a marker closes it.
        public var currentTxnFirstOffset: Int64?
    }

    /// A transaction a marker ended: its data lies in [firstOffset, lastOffset), the marker at
    /// `lastOffset`.
    public struct CompletedTransaction: Sendable, Hashable {
        public let producerId: Int64
        public let firstOffset: Int64
        public let lastOffset: Int64
        public let isAborted: Bool
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
        /// A non-transactional batch while the producer's transaction is open: INVALID_TXN_STATE.
        case invalidTxnState
    }

    /// What to do with a transaction marker.
    public enum MarkerVerdict: Sendable, Hashable {
        case append
        /// The marker's producer epoch is older than the producer's: INVALID_PRODUCER_EPOCH.
        case staleEpoch(current: Int16)
        /// An older coordinator wrote it: TRANSACTION_COORDINATOR_FENCED.
        case coordinatorFenced(current: Int32)
    }

    public static let retainedBatches = 5
    public private(set) var producers: [Int64: Producer] = [:]
    /// Producer id → first offset of its open transaction, kept beside `producers` (every
    /// change goes through `set`): the last stable offset is asked for on every fetch, and
    /// this way costs nothing when no transaction is open, however many producers there are.
    private var openTransactions: [Int64: Int64] = [:]

    private mutating func set(_ id: Int64, _ producer: Producer?) {
        producers[id] = producer
        openTransactions[id] = producer?.currentTxnFirstOffset
    }

    public init() {}

    /// Kafka's rules for a data batch: an unknown producer (or one known only from a marker) is
    /// accepted at any sequence; a newer epoch must start at sequence 0; within an epoch the
    /// batch must be a retry of one of the last five or follow the last one; while a transaction
    /// is open every batch must be transactional.
    public func verdict(for header: RecordBatchHeader) -> Verdict {
        guard header.producerId >= 0, let producer = producers[header.producerId] else { return .append }
        if header.producerEpoch < producer.epoch { return .staleEpoch(current: producer.epoch) }
        let sequenceVerdict: Verdict
        if producer.epoch == -1 {
            sequenceVerdict = .append
        } else if header.producerEpoch > producer.epoch {
            sequenceVerdict = header.baseSequence == 0 ? .append : .outOfOrder(expected: 0)
        } else if let retry = producer.batches.first(where: {
            $0.firstSequence == header.baseSequence && $0.lastSequence == header.lastSequence
        }) {
            return .duplicate(retry)
        } else if let last = producer.batches.last {
            let expected = last.lastSequence == Int32.max ? 0 : last.lastSequence + 1
            sequenceVerdict = header.baseSequence == expected ? .append : .outOfOrder(expected: expected)
        } else {
            sequenceVerdict = .append
        }
        guard sequenceVerdict == .append else { return sequenceVerdict }
        if producer.currentTxnFirstOffset != nil && !header.attributes.isTransactional { return .invalidTxnState }
        return .append
    }

    /// Kafka's rules for a marker (WriteTxnMarkers v0–1): an older producer epoch or an older
    /// coordinator epoch is refused; a newer producer epoch is taken. A marker for a producer
    /// with no open transaction is still written (it ends nothing).
    public func markerVerdict(producerId: Int64, producerEpoch: Int16, coordinatorEpoch: Int32) -> MarkerVerdict {
        guard let producer = producers[producerId] else { return .append }
        if producerEpoch < producer.epoch { return .staleEpoch(current: producer.epoch) }
        if coordinatorEpoch < producer.coordinatorEpoch { return .coordinatorFenced(current: producer.coordinatorEpoch) }
        return .append
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
        // The partition learns of a transaction from its first batch (no prior notice needed).
        if header.attributes.isTransactional && producer.currentTxnFirstOffset == nil { producer.currentTxnFirstOffset = firstOffset }
        set(header.producerId, producer)
    }

    /// Records a marker written at `offset`; returns the transaction it ended, if one was open.
    /// Takes the marker's producer epoch (its batches are forgotten when that changes) and
    /// coordinator epoch.
    @discardableResult
    public mutating func recordMarker(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, offset: Int64,
                                      timestamp: Int64) -> CompletedTransaction? {
        var producer = producers[producerId] ?? Producer(epoch: -1, batches: [], lastTimestamp: timestamp)
        let completed = producer.currentTxnFirstOffset.map {
            CompletedTransaction(producerId: producerId, firstOffset: $0, lastOffset: offset, isAborted: marker.kind == .abort)
        }
        if producerEpoch != producer.epoch {
            producer.epoch = producerEpoch
            producer.batches.removeAll()
        }
        producer.coordinatorEpoch = marker.coordinatorEpoch
        producer.lastTimestamp = max(producer.lastTimestamp, timestamp)
        producer.currentTxnFirstOffset = nil
        set(producerId, producer)
        return completed
    }

    /// The first offset of the earliest open transaction, nil when none is open.
    public var firstOpenTransactionOffset: Int64? {
        openTransactions.values.min()
    }

    public mutating func restore(_ producerId: Int64, to previous: Producer?) {
        set(producerId, previous)
    }

    public func producer(_ id: Int64) -> Producer? { producers[id] }

    /// Forgets producers idle longer than `producer.id.expiration.ms`, except those with a
    /// transaction open (only a marker ends it).
    public mutating func expire(olderThan cutoff: Int64) {
        producers = producers.filter { $0.value.lastTimestamp >= cutoff || $0.value.currentTxnFirstOffset != nil }
        // Open transactions never expire, so `openTransactions` is unchanged.
    }

    // MARK: Snapshot

    /// Marks the current snapshot layout (an offset is never negative, so the first layout, which
    /// began with the offset, is told apart).
    static let snapshotMagic: Int64 = -2
    static let snapshotVersion: UInt16 = 2

    /// The table as bytes: a magic and version, the offset it is valid up to, then each
    /// producer with its coordinator epoch and open transaction (-1: none).
    func serialized(validUpTo offset: Int64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(UInt64(bitPattern: Self.snapshotMagic))
        bytes.appendBigEndian(Self.snapshotVersion)
        bytes.appendBigEndian(UInt64(bitPattern: offset))
        bytes.appendBigEndian(UInt32(producers.count))
        for (id, producer) in producers.sorted(by: { $0.key < $1.key }) {
            bytes.appendBigEndian(UInt64(bitPattern: id))
            bytes.appendBigEndian(UInt16(bitPattern: producer.epoch))
            bytes.appendBigEndian(UInt64(bitPattern: producer.lastTimestamp))
            bytes.appendBigEndian(UInt32(bitPattern: producer.coordinatorEpoch))
            bytes.appendBigEndian(UInt64(bitPattern: producer.currentTxnFirstOffset ?? -1))
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

    /// Reads either layout: the current one, or the first (no magic, no transaction fields)
    /// that brokers before transactions wrote.
    static func parse(_ bytes: [UInt8]) -> (table: ProducerStateTable, validUpTo: Int64)? {
        var cursor = 0
        func take(_ count: Int) -> Int? {
            guard cursor + count <= bytes.count else { return nil }
            defer { cursor += count }
            return cursor
        }
        var transactional = false
        if bytes.count >= 10, bytes.readBigEndianInt64(at: 0) == snapshotMagic {
            guard UInt16(bytes[8]) << 8 | UInt16(bytes[9]) == snapshotVersion else { return nil }
            cursor = 10
            transactional = true
        }
        guard let at = take(8), let countAt = take(4) else { return nil }
        let validUpTo = bytes.readBigEndianInt64(at: at)
        var table = ProducerStateTable()
        for _ in 0..<bytes.readBigEndianUInt32(at: countAt) {
            guard let idAt = take(8), let epochAt = take(2), let timeAt = take(8) else { return nil }
            let epoch = Int16(bitPattern: UInt16(bytes[epochAt]) << 8 | UInt16(bytes[epochAt + 1]))
            var producer = Producer(epoch: epoch, batches: [], lastTimestamp: bytes.readBigEndianInt64(at: timeAt))
            if transactional {
                guard let coordinatorAt = take(4), let txnAt = take(8) else { return nil }
                producer.coordinatorEpoch = bytes.readBigEndianInt32(at: coordinatorAt)
                let first = bytes.readBigEndianInt64(at: txnAt)
                producer.currentTxnFirstOffset = first >= 0 ? first : nil
            }
            guard let nAt = take(1) else { return nil }
            for _ in 0..<bytes[nAt] {
                guard let b = take(24) else { return nil }
                producer.batches.append(Batch(firstSequence: bytes.readBigEndianInt32(at: b), lastSequence: bytes.readBigEndianInt32(at: b + 4),
                                              firstOffset: bytes.readBigEndianInt64(at: b + 8), lastOffset: bytes.readBigEndianInt64(at: b + 16)))
            }
            table.set(bytes.readBigEndianInt64(at: idAt), producer)
        }
        return cursor == bytes.count ? (table, validUpTo) : nil
    }
}
