import KafkaProtocol
import NIOCore

/// The log's side of transactions, as Kafka's ProducerStateManager and UnifiedLog keep it: a
/// transactional batch opens its producer's transaction, a marker (written for the transaction
/// coordinator) ends it, and the last stable offset is where read_committed consumers stop.
extension PartitionLog {
    /// Appends the marker that ends (commits or aborts) `producerId`'s transaction, as a leader
    /// does for WriteTxnMarkers: refused with INVALID_PRODUCER_EPOCH under an older producer
    /// epoch and TRANSACTION_COORDINATOR_FENCED under an older coordinator epoch; written even
    /// when no transaction is open (it then ends nothing).
    @discardableResult
    public func appendTransactionMarker(_ marker: EndTransactionMarker, producerId: Int64, producerEpoch: Int16, nowMs: Int64,
                                        completion: @escaping (Result<LogAppendInfo, StorageError>) -> Void) throws -> LogAppendInfo {
        let batch = try marker.batch(producerId: producerId, producerEpoch: producerEpoch, timestamp: nowMs)
        return try append(batch, nowMs: nowMs, completion: completion)
    }

    /// The offset below which every transaction is decided and its marker replicated: the first
    /// offset of the earliest open transaction, or of the earliest ended one whose marker is not
    /// yet below the high watermark, never below the log start; at most the high watermark.
    public var lastStableOffset: Int64 {
        precondition(owner.isCurrent, "a log is used on its owner only")
        var first = producerState.firstOpenTransactionOffset
        for completed in completedAboveHighWatermark where completed.lastOffset >= highWatermark {
            first = min(first ?? completed.firstOffset, completed.firstOffset)
        }
        guard let first else { return highWatermark }
        return min(max(first, logStartOffset), highWatermark)
    }

    /// The marker a batch carries when it is a transaction marker. Clients' control batches
    /// never get here (the broker refuses them with INVALID_RECORD).
    static func transactionMarker(in bytes: ByteBuffer, header: RecordBatchHeader) throws -> EndTransactionMarker? {
        guard header.attributes.isControl else { return nil }
        var copy = bytes
        do {
            guard let batch = try RecordBatch.next(from: &copy) else { throw StorageError.invalidBatch("control batch cut short") }
            return try EndTransactionMarker(controlBatch: batch)
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.invalidBatch("control batch: \(error)")
        }
    }

    /// Ends the producer's open transaction at the marker's offset; an ended transaction holds
    /// the last stable offset back until its marker is below the high watermark. An abort goes
    /// into the `.txnindex` of `segment`, the one the marker is in (once: a replay finds the
    /// entries already written). An index that cannot be written takes the log offline: a
    /// read_committed consumer would otherwise be served aborted records as committed.
    func recordMarker(_ marker: EndTransactionMarker, header: RecordBatchHeader, offset: Int64, timestamp: Int64, segment: LogSegment) {
        completedAboveHighWatermark.removeAll { $0.lastOffset < highWatermark }
        guard let completed = producerState.recordMarker(marker, producerId: header.producerId, producerEpoch: header.producerEpoch,
                                                          offset: offset, timestamp: timestamp) else { return }
        if completed.lastOffset >= highWatermark { completedAboveHighWatermark.append(completed) }
        guard completed.isAborted, !segment.transactionIndex.contains(lastOffset: completed.lastOffset) else { return }
        // Where read_committed may stop looking for aborted transactions: the earliest other
        // transaction still open, or just past this one (Kafka's lastStableOffset(completedTxn)).
        let entry = AbortedTransaction(producerId: completed.producerId, firstOffset: completed.firstOffset, lastOffset: completed.lastOffset,
                                       lastStableOffset: producerState.firstOpenTransactionOffset ?? completed.lastOffset + 1)
        do {
            try segment.transactionIndex.append(entry)
        } catch {
            logger.error("cannot write the aborted transaction index; taking the partition offline", metadata: [
                "directory": "\(directory)", "error": "\(error)"])
            failure = .offline(reason: "aborted transaction index: \(error)")
        }
    }

    /// The aborted transactions a read_committed fetch from `fetchOffset` that returned data up
    /// to `upperBound` (exclusive) must report, as Kafka collects them: from the segment holding
    /// `fetchOffset` on, each whose data overlaps the range, stopping at the first entry whose
    /// last stable offset reaches `upperBound` (nothing later can overlap).
    public func abortedTransactions(from fetchOffset: Int64, upTo upperBound: Int64) -> [AbortedTransaction] {
        precondition(owner.isCurrent, "a log is used on its owner only")
        var found: [AbortedTransaction] = []
        let first = segments.lastIndex { $0.baseOffset <= fetchOffset } ?? 0
        for segment in segments[first...] {
            for entry in segment.transactionIndex.entries {
                if entry.lastOffset >= fetchOffset && entry.firstOffset < upperBound { found.append(entry) }
                if entry.lastStableOffset >= upperBound { return found }
            }
        }
        return found
    }

    /// Producer state from one batch found in the log (recovery, a follower's copy): the same
    /// rules as an append, without refusing anything (the leader already decided). A marker
    /// that cannot be read is logged and skipped: the log keeps what the leader wrote.
    func replayProducerState(of header: RecordBatchHeader, bytes: () throws -> ByteBuffer, timestamp: Int64,
                             segment: LogSegment) rethrows {
        if header.attributes.isControl {
            let data = try bytes()
            let marker: EndTransactionMarker?
            do {
                marker = try Self.transactionMarker(in: data, header: header)
            } catch {
                logger.warning("unreadable transaction marker skipped", metadata: [
                    "directory": "\(directory)", "offset": "\(header.baseOffset)", "error": "\(error)"])
                return
            }
            if let marker { recordMarker(marker, header: header, offset: header.baseOffset, timestamp: timestamp, segment: segment) }
        } else if header.producerId >= 0 {
            producerState.record(header, firstOffset: header.baseOffset, timestamp: timestamp)
        }
    }
}
