import NIOCore

extension RecordBatchAttributes {
    /// The same attributes with KIP-534's delete-horizon flag (bit 6) set or cleared.
    public func withDeleteHorizon(_ set: Bool) -> RecordBatchAttributes {
        RecordBatchAttributes(rawValue: set ? rawValue | 0x40 : rawValue & ~0x40)
    }
}

extension RecordBatchHeader {
    /// When tombstones in this batch may be removed (KIP-534), or nil when no cleaning has
    /// stamped one. Under the flag the base timestamp field holds the horizon.
    public var deleteHorizonMs: Int64? { attributes.hasDeleteHorizon ? baseTimestamp : nil }

    /// The timestamp of the record at `timestampDelta`. Always relative to the base timestamp
    /// field, which the cleaner may have replaced by a delete horizon (the deltas were rebased).
    public func timestamp(ofDelta timestampDelta: Int64) -> Int64 { baseTimestamp &+ timestampDelta }
}

extension RecordBatch {
    /// This batch holding only `records` (some of its own, in order), as Kafka's log cleaner
    /// rewrites a batch it keeps part of: the base offset, last offset delta (so the producer's
    /// last sequence survives), producer fields, leader epoch, codec and flags are the
    /// original's; each record keeps its offset delta and timestamp. `deleteHorizonMs` stamps
    /// KIP-534's horizon (nil keeps the batch's own, if any). No records gives the header-only
    /// batch Kafka keeps for a producer's last batch: no codec, record count 0.
    public func retaining(_ records: [Record], deleteHorizonMs: Int64? = nil) throws -> ByteBuffer {
        let horizon = deleteHorizonMs ?? header.deleteHorizonMs
        var attributes = header.attributes.withDeleteHorizon(horizon != nil)
        let originalBase = header.baseTimestamp
        let newBase = horizon ?? originalBase
        var maxTimestamp = header.maxTimestamp
        if header.attributes.timestampType == .createTime {
            maxTimestamp = records.map { originalBase &+ $0.timestampDelta }.max() ?? header.maxTimestamp
        }
        var section = ByteBuffer()
        for var record in records {
            record.timestampDelta = originalBase &+ record.timestampDelta &- newBase
            record.write(to: &section)
        }
        if records.isEmpty {
            attributes = RecordBatchAttributes(rawValue: attributes.rawValue & ~0x07)
        } else if let codec = attributes.compression, codec != .none {
            section = try codec.compress(section)
        }
        var batch = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + section.readableBytes)
        RecordBatchHeader(
            baseOffset: header.baseOffset,
            batchLength: Int32(RecordBatchHeader.size - RecordBatchHeader.lengthFieldEnd + section.readableBytes),
            partitionLeaderEpoch: header.partitionLeaderEpoch, crc: 0, attributes: attributes,
            lastOffsetDelta: header.lastOffsetDelta, baseTimestamp: newBase, maxTimestamp: maxTimestamp,
            producerId: header.producerId, producerEpoch: header.producerEpoch, baseSequence: header.baseSequence,
            recordCount: Int32(records.count)
        ).write(to: &batch)
        batch.writeImmutableBuffer(section)
        let crc = batch.crc32c(at: batch.readerIndex + RecordBatchHeader.attributesOffset,
                               length: batch.readableBytes - RecordBatchHeader.attributesOffset)
        batch.setInteger(crc, at: batch.readerIndex + RecordBatchHeader.crcOffset)
        return batch
    }
}
