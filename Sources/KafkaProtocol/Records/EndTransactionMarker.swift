import NIOCore

/// The control record a transaction coordinator has each partition leader write when a
/// transaction ends (Kafka's EndTransactionMarker): key `version int16, type int16` (ABORT 0,
/// COMMIT 1), value `version int16, coordinatorEpoch int32`, alone in a control batch that
/// carries the producer's id and epoch and no sequence.
public struct EndTransactionMarker: Hashable, Sendable {
    public enum Kind: Int16, Sendable {
        case abort = 0
        case commit = 1
    }

    public var kind: Kind
    public var coordinatorEpoch: Int32

    public init(kind: Kind, coordinatorEpoch: Int32) {
        self.kind = kind
        self.coordinatorEpoch = coordinatorEpoch
    }

    /// The marker's batch: control and transactional, base sequence -1, one record.
    public func batch(producerId: Int64, producerEpoch: Int16, timestamp: Int64) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(producerId: producerId, producerEpoch: producerEpoch, baseSequence: -1,
                                         isTransactional: true, isControl: true, initialCapacity: 128)
        var key = ByteBuffer()
        key.writeInteger(Int16(0))
        key.writeInteger(kind.rawValue)
        var value = ByteBuffer()
        value.writeInteger(Int16(0))
        value.writeInteger(coordinatorEpoch)
        builder.append(key: key, value: value, timestamp: timestamp)
        return try builder.build()
    }

    /// The marker a control batch holds; nil for other control records (Raft's, for one), for an
    /// emptied control batch and for a batch that is not a control batch. Throws when the
    /// record is malformed.
    public init?(controlBatch batch: RecordBatch) throws {
        // A control batch the cleaner emptied (its record removed) is no marker any more.
        guard batch.header.attributes.isControl, let record = try batch.records(decompressionLimit: 1 << 16).first else { return nil }
        guard var key = record.key, let version: Int16 = key.readInteger(), let type: Int16 = key.readInteger() else {
            throw RecordBatchError.malformedRecord("control batch without a control record key")
        }
        guard version >= 0, let kind = Kind(rawValue: type) else { return nil }
        guard var value = record.value, let _: Int16 = value.readInteger(), let epoch: Int32 = value.readInteger() else {
            throw RecordBatchError.malformedRecord("end transaction marker without a coordinator epoch")
        }
        self.init(kind: kind, coordinatorEpoch: epoch)
    }
}
