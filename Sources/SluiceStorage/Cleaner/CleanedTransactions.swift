import KafkaProtocol

/// Which transaction markers a cleaning may drop, as Kafka's CleanedTransactionMetadata
/// decides: a marker goes once no batch of its transaction is left before it in the log. The
/// cleaner sees every batch from the log's start in offset order and tells this about each;
/// an ABORT marker whose transaction's batches it is still removing in this pass stays until a
/// later one, and a COMMIT marker stays while any batch of its transaction is left.
struct CleanedTransactions {
    /// The log's aborted transactions not yet reached, by first offset.
    private let aborted: [AbortedTransaction]
    private var nextAborted = 0
    /// Producer → whether a batch of its current aborted transaction was seen this pass.
    private var ongoingAborted: [Int64: Bool] = [:]
    /// Producers with a batch of a current (committed) transaction seen this pass.
    private var ongoingCommitted: Set<Int64> = []

    init(aborted: [AbortedTransaction]) {
        self.aborted = aborted.sorted { $0.firstOffset < $1.firstOffset }
    }

    private mutating func reach(_ offset: Int64) {
        while nextAborted < aborted.count, aborted[nextAborted].firstOffset <= offset {
            ongoingAborted[aborted[nextAborted].producerId] = false
            nextAborted += 1
        }
    }

    /// A data batch, in offset order.
    mutating func sawDataBatch(_ header: RecordBatchHeader) {
        reach(header.lastOffset)
        guard header.attributes.isTransactional else { return }
        if ongoingAborted[header.producerId] != nil {
            ongoingAborted[header.producerId] = true
        } else {
            ongoingCommitted.insert(header.producerId)
        }
    }

    /// A control batch, in offset order: whether it is a marker whose transaction has no batch
    /// left (it may go once its delete horizon has passed).
    mutating func markerIsEmpty(_ header: RecordBatchHeader, kind: EndTransactionMarker.Kind?) -> Bool {
        reach(header.lastOffset)
        switch kind {
        case .abort?:
            return ongoingAborted.removeValue(forKey: header.producerId) != true
        case .commit?:
            return ongoingCommitted.remove(header.producerId) == nil
        case nil:
            return false
        }
    }
}
