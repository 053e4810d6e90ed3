import CSluiceCodecs
import NIOCore

/// What one pass over a batch's records found, without building a `Record` for any of them
/// (the produce path's check; `forEachRecord` stays the reader that names each fault).
public struct RecordsWalk: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case ok
        /// A record's length, a varint or a field length is wrong at `recordIndex`.
        case malformed
        /// More or fewer records than the header declares.
        case countMismatch
        /// The record at `recordIndex` has another offset delta than its index.
        case offsetDeltaOutOfOrder
    }

    public var status: Status
    public var recordIndex: Int32
    /// Records whose timestamp lies outside the range asked for (a timestamp of -1 never does).
    public var timestampViolations: Int32
    /// Records without a key, when keys were asked for.
    public var missingKeys: Int32
}

extension RecordBatch {
    /// Decompresses (when needed, bounded by `decompressionLimit`) and walks the records once in
    /// C: lengths, varints, offset deltas and the record count, as `forEachRecord` would check
    /// them, plus timestamps against `timestamps` and keys when `requireKeys`.
    public func walkRecords(decompressionLimit: Int, timestamps: ClosedRange<Int64>? = nil,
                            requireKeys: Bool = false) throws -> RecordsWalk {
        guard let codec = header.attributes.compression else {
            throw RecordBatchError.unknownCompression(header.attributes.compressionBits)
        }
        var payload = recordsPayload
        if codec != .none {
            payload = try codec.decompress(payload, limit: decompressionLimit)
        }
        var walk = sluice_records_walk()
        let declared = header.recordCount
        let base = header.baseTimestamp
        let low = timestamps?.lowerBound ?? Int64.min
        let high = timestamps?.upperBound ?? Int64.max
        payload.withUnsafeReadableBytes { bytes in
            _ = sluice_walk_records(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, declared, base,
                                    low, high, requireKeys ? 1 : 0, &walk)
        }
        let status: RecordsWalk.Status
        switch Int(walk.status) {
        case Int(SLUICE_RECORDS_OK): status = .ok
        case Int(SLUICE_RECORDS_COUNT_MISMATCH): status = .countMismatch
        case Int(SLUICE_RECORDS_OFFSET_DELTA): status = .offsetDeltaOutOfOrder
        default: status = .malformed
        }
        return RecordsWalk(status: status, recordIndex: walk.record_index, timestampViolations: walk.timestamp_violations,
                           missingKeys: walk.missing_keys)
    }
}
