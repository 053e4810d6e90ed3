import KafkaProtocol

/// Skips what a read_committed consumer must not see in one fetched partition: control
/// batches, and the batches of transactions the broker listed as aborted. It works as Kafka's
/// consumer does: an aborted transaction counts from its first offset until its producer's
/// ABORT marker, and only that producer's transactional batches in between are dropped.
struct AbortedTransactionFilter {
    /// The fetch's aborted transactions not yet reached, by first offset.
    private let aborted: [FetchResponse.AbortedTransaction]
    private var nextAborted = 0
    /// Producers whose aborted transaction covers the current batch.
    private var aborting: Set<Int64> = []

    init(_ aborted: [FetchResponse.AbortedTransaction]) {
        self.aborted = aborted.sorted { $0.firstOffset < $1.firstOffset }
    }

    /// Whether the batch's records are to be skipped. Call for every batch, in offset order.
    mutating func skips(_ batch: RecordBatch) throws -> Bool {
        let header = batch.header
        while nextAborted < aborted.count, aborted[nextAborted].firstOffset <= header.lastOffset {
            aborting.insert(aborted[nextAborted].producerId)
            nextAborted += 1
        }
        if header.attributes.isControl {
            if aborting.contains(header.producerId), try EndTransactionMarker(controlBatch: batch)?.kind == .abort {
                aborting.remove(header.producerId)
            }
            return true
        }
        return header.attributes.isTransactional && aborting.contains(header.producerId)
    }
}
