import KafkaProtocol
import NIOCore
import SluiceCore

/// Checks a producer's records the way Kafka's LogValidator does for magic 2, without
/// rebuilding them: one batch, its CRC, sizes, record count, each record's offset delta and,
/// where the topic bounds them, CreateTime timestamps. Compressed batches are read through
/// their decompressed records (bounded), never re-encoded.
enum ProduceValidator {
    struct Rejection: Error {
        let code: KafkaErrorCode
        let message: String
        /// The records at fault (index in the batch, why), for Produce v8+'s per-record errors.
        var recordErrors: [(index: Int32, message: String)] = []

        init(code: KafkaErrorCode, message: String, recordIndex: Int32? = nil) {
            self.code = code
            self.message = message
            self.recordErrors = recordIndex.map { [($0, message)] } ?? []
        }
    }

    /// message.timestamp.before.max.ms and .after.max.ms of a CreateTime topic, when either
    /// is bounded: records outside [now - before, now + after] are refused.
    struct TimestampBounds {
        let beforeMs: Int64
        let afterMs: Int64
        let nowMs: Int64

        init?(_ topic: Topic, nowMs: Int64) {
            let resolved = topic.resolved
            guard resolved.log.timestampType == .createTime,
                  resolved.timestampBeforeMaxMs != Int64.max || resolved.timestampAfterMaxMs != Int64.max else { return nil }
            beforeMs = resolved.timestampBeforeMaxMs
            afterMs = resolved.timestampAfterMaxMs
            self.nowMs = nowMs
        }

        /// The timestamps accepted (an overflowing bound is no bound).
        var range: ClosedRange<Int64> {
            let (earliest, lowOverflow) = nowMs.subtractingReportingOverflow(beforeMs)
            let (latest, highOverflow) = nowMs.addingReportingOverflow(afterMs)
            let low = lowOverflow ? Int64.min : earliest
            let high = highOverflow ? Int64.max : latest
            return low...max(low, high)
        }

        /// Kafka's LogValidator text for a record out of range, or nil.
        func violation(timestamp: Int64, offset: Int64) -> String? {
            guard timestamp != -1 else { return nil }
            let (earliest, lowOverflow) = nowMs.subtractingReportingOverflow(beforeMs)
            let (latest, highOverflow) = nowMs.addingReportingOverflow(afterMs)
            let tooOld = !lowOverflow && timestamp < earliest
            let tooNew = !highOverflow && timestamp > latest
            guard tooOld || tooNew else { return nil }
            return "Timestamp \(timestamp) of message with offset \(offset) is out of range. The timestamp should be within [\(earliest), \(latest)]"
        }
    }

    /// `transactional`: the request names a transactional id, so transactional batches are
    /// allowed (without one they get TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as from Kafka).
    static func validate(_ records: ByteBuffer?, produceVersion: Int16, maxMessageBytes: Int,
                         timestamps: TimestampBounds? = nil, requireKeys: Bool = false, transactional: Bool = false,
                         partition: (topic: String, index: Int32) = ("", 0)) -> Result<RecordBatch, Rejection> {
        guard var records, records.readableBytes > 0 else {
            return .failure(Rejection(code: .invalidRecord, message: "no records"))
        }
        if records.readableBytes > maxMessageBytes {
            return .failure(Rejection(code: .messageTooLarge,
                                      message: "The request included a message larger than the max message size the server will accept (\(records.readableBytes) > \(maxMessageBytes))."))
        }
        let batch: RecordBatch
        do {
            guard let first = try RecordBatch.next(from: &records) else {
                return .failure(Rejection(code: .invalidRecord, message: "no records"))
            }
            batch = first
        } catch RecordBatchError.unsupportedMagic(let magic) {
            return .failure(Rejection(code: .invalidRecord, message: "record batch magic \(magic) is not supported; use magic 2 (Produce v3+)"))
        } catch {
            return .failure(Rejection(code: .corruptMessage, message: "malformed record batch: \(error)"))
        }
        guard records.readableBytes == 0 else {
            return .failure(Rejection(code: .invalidRecord, message: "a produce request must carry exactly one record batch per partition"))
        }
        let header = batch.header
        guard batch.computedCRC == header.crc else {
            return .failure(Rejection(code: .corruptMessage, message: "record batch CRC mismatch"))
        }
        guard let codec = header.attributes.compression else {
            return .failure(Rejection(code: .unsupportedCompressionType, message: "unknown compression type \(header.attributes.compressionBits)"))
        }
        if codec == .zstd && produceVersion < 7 {
            return .failure(Rejection(code: .unsupportedCompressionType, message: "zstd needs Produce v7 or later"))
        }
        if header.attributes.isControl {
            return .failure(Rejection(code: .invalidRecord, message: "clients may not send control batches"))
        }
        if header.attributes.isTransactional && !transactional {
            return .failure(Rejection(code: .transactionalIdAuthorizationFailed,
                                      message: "a transactional batch in a produce request without a transactional id"))
        }
        if header.attributes.isTransactional && (header.producerId < 0 || header.baseSequence < 0) {
            return .failure(Rejection(code: .invalidRecord, message: "a transactional batch without a producer id and sequence"))
        }
        guard header.recordCount > 0, header.lastOffsetDelta == header.recordCount - 1 else {
            return .failure(Rejection(code: .invalidRecord,
                                      message: "record count \(header.recordCount) does not match last offset delta \(header.lastOffsetDelta)"))
        }
        let decompressionLimit = max(maxMessageBytes * 8, 64 << 20)
        // The common case in one pass over the raw bytes (in C, no Record built); only a batch
        // that fails it is read again record by record, to name the fault as Kafka does.
        let walk = try? batch.walkRecords(decompressionLimit: decompressionLimit, timestamps: timestamps?.range, requireKeys: requireKeys)
        if let walk, walk.status == .ok, walk.timestampViolations == 0, walk.missingKeys == 0 {
            return .success(batch)
        }
        var expectedDelta: Int32 = 0
        var timestampErrors: [(index: Int32, message: String)] = []
        var keyErrors: [(index: Int32, message: String)] = []
        do {
            try batch.forEachRecord(decompressionLimit: decompressionLimit) { record in
                guard record.offsetDelta == expectedDelta else {
                    throw Rejection(code: .invalidRecord, message: "record offset delta \(record.offsetDelta), expected \(expectedDelta)",
                                    recordIndex: expectedDelta)
                }
                if let timestamps, let violation = timestamps.violation(timestamp: header.baseTimestamp + record.timestampDelta,
                                                                         offset: header.baseOffset + Int64(record.offsetDelta)) {
                    timestampErrors.append((expectedDelta, violation))
                }
                if requireKeys && record.key == nil {
                    keyErrors.append((expectedDelta, "Compacted topic cannot accept message without key in topic partition \(partition.topic)-\(partition.index)."))
                }
                expectedDelta += 1
            }
        } catch let rejection as Rejection {
            return .failure(rejection)
        } catch {
            return .failure(Rejection(code: .corruptMessage, message: "cannot read the records: \(error)"))
        }
        if !timestampErrors.isEmpty {
            // Kafka refuses the whole batch and lists every record at fault.
            var rejection = Rejection(code: .invalidTimestamp, message: "One or more records have been rejected due to invalid timestamp")
            rejection.recordErrors = timestampErrors
            return .failure(rejection)
        }
        if !keyErrors.isEmpty {
            // Kafka's LogValidator: a compacted topic refuses the batch, naming each keyless record.
            let shown = keyErrors.prefix(3).map { "RecordError(batchIndex=\($0.index), message='\($0.message)')" }.joined(separator: ", ")
            var rejection = Rejection(code: .invalidRecord, message: "One or more records have been rejected due to \(keyErrors.count) "
                                      + "record errors in total, and only showing the first three errors at most: [\(shown)]")
            rejection.recordErrors = keyErrors
            return .failure(rejection)
        }
        // The record reader found nothing the walk did: still refuse what the walk refused.
        let index = walk?.recordIndex ?? 0
        return .failure(Rejection(code: .corruptMessage, message: "malformed record \(index) (\(walk.map { "\($0.status)" } ?? "unreadable"))",
                                  recordIndex: index))
    }

    /// Recompresses a batch into `codec` (topic `compression.type` naming another codec than the
    /// producer's, Kafka's rule), keeping every record field and the batch's producer fields.
    static func recompress(_ batch: RecordBatch, to codec: CompressionCodec, level: Int32?) throws -> ByteBuffer {
        let header = batch.header
        var builder = RecordBatchBuilder(
            compression: codec, timestampType: header.attributes.timestampType, producerId: header.producerId,
            producerEpoch: header.producerEpoch, baseSequence: header.baseSequence)
        try batch.forEachRecord(decompressionLimit: 256 << 20) { record in
            builder.append(key: record.key, value: record.value, headers: record.headers,
                           timestamp: header.baseTimestamp + record.timestampDelta)
        }
        return try builder.build(compressionLevel: level)
    }
}
