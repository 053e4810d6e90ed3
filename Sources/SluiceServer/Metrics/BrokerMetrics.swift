import CoreMetrics
import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import SluiceCore
import SluiceStorage
import Synchronization

/// The broker's metrics, exported in Prometheus text format by `MetricsServer`.
///
/// Counters and timers on the request path are swift-metrics handles made once, up front,
/// against this broker's own Prometheus registry (so brokers in one process, as in tests, do
/// not share figures and nothing depends on a global bootstrap). Values that are read rather
/// than counted (partitions, log end offsets and sizes, groups) are gathered when scraped.
public final class BrokerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let requestCounters: [Int16: CoreMetrics.Counter]
    private let requestTimers: [Int16: CoreMetrics.Timer]
    let bytesIn: CoreMetrics.Counter
    let bytesOut: CoreMetrics.Counter
    let recordsIn: CoreMetrics.Counter
    let fetchWait: CoreMetrics.Timer
    private let connections: CoreMetrics.Gauge
    private let connectionCount = Atomic<Int>(0)
    /// Connections not being read from because they have too much outstanding (back pressure).
    private let pausedConnections: CoreMetrics.Gauge
    private let pausedCount = Atomic<Int>(0)
    /// SASL logins by outcome (`sluice_authentications_total{result="success|failure"}`).
    private let authenticationSuccesses: CoreMetrics.Counter
    private let authenticationFailures: CoreMetrics.Counter
    /// Per-partition gauges from the last scrape, so partitions that went away can be removed.
    private let partitionGauges = NIOLockedValueBox<[String: (Prometheus.Gauge, Prometheus.Gauge)]>([:])

    public init(storage: LogWriterStatistics? = nil, health: StorageHealth? = nil, diskSpace: DiskSpaceGuard? = nil,
                cleaner: LogCleaner? = nil, replication: ReplicationStatistics? = nil, transactions: TransactionStatistics? = nil) {
        self.cleaner = cleaner
        self.transactions = transactions
        self.diskSpace = diskSpace
        self.storage = storage
        self.health = health
        self.replication = replication
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Kafka request latencies span sub-millisecond appends to 30 s long polls.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        var counters: [Int16: CoreMetrics.Counter] = [:]
        var timers: [Int16: CoreMetrics.Timer] = [:]
        for (key, _) in SupportedApis.ranges {
            let name = key.spec?.name ?? "\(key.rawValue)"
            counters[key.rawValue] = CoreMetrics.Counter(label: "sluice_requests_total", dimensions: [("api", name)], factory: factory)
            timers[key.rawValue] = CoreMetrics.Timer(label: "sluice_request_duration_seconds", dimensions: [("api", name)],
                                                     preferredDisplayUnit: .seconds, factory: factory)
        }
        requestCounters = counters
        requestTimers = timers
        bytesIn = CoreMetrics.Counter(label: "sluice_bytes_in_total", factory: factory)
        bytesOut = CoreMetrics.Counter(label: "sluice_bytes_out_total", factory: factory)
        recordsIn = CoreMetrics.Counter(label: "sluice_records_in_total", factory: factory)
        fetchWait = CoreMetrics.Timer(label: "sluice_fetch_wait_seconds", preferredDisplayUnit: .seconds, factory: factory)
        connections = CoreMetrics.Gauge(label: "sluice_connections", factory: factory)
        pausedConnections = CoreMetrics.Gauge(label: "sluice_connections_paused", factory: factory)
        authenticationSuccesses = CoreMetrics.Counter(label: "sluice_authentications_total", dimensions: [("result", "success")], factory: factory)
        authenticationFailures = CoreMetrics.Counter(label: "sluice_authentications_total", dimensions: [("result", "failure")], factory: factory)
    }

    func authentication(succeeded: Bool) {
        (succeeded ? authenticationSuccesses : authenticationFailures).increment()
    }

    func request(_ key: ApiKey, nanoseconds: Int64) {
        requestCounters[key.rawValue]?.increment()
        requestTimers[key.rawValue]?.recordNanoseconds(nanoseconds)
    }

    func connectionOpened() {
        connections.record(connectionCount.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    func connectionClosed() {
        connections.record(connectionCount.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    func connectionReadingPaused(_ paused: Bool) {
        let now = paused ? pausedCount.wrappingAdd(1, ordering: .relaxed).newValue : pausedCount.wrappingSubtract(1, ordering: .relaxed).newValue
        pausedConnections.record(now)
    }

    /// The storage thread's rounds, with fdatasync (the durable path's latency) and without:
    /// kept by the writer and rendered at scrape time (see `LogWriterStatistics`).
    private let storage: LogWriterStatistics?
    /// Damage the logs found (read at scrape time).
    private let health: StorageHealth?
    private let cleaner: LogCleaner?
    private let transactions: TransactionStatistics?
    private let diskSpace: DiskSpaceGuard?
    /// ISR changes this broker's leaders made (read at scrape time).
    private let replication: ReplicationStatistics?

    private func renderStorageRounds(into out: inout String) {
        guard let statistics = storage else { return }
        let (synced, buffered) = statistics.roundDurations
        out += "# HELP sluice_storage_round_seconds Storage-thread rounds (a group of writes, and with sync=\"true\" their fdatasyncs).\n"
        out += "# TYPE sluice_storage_round_seconds histogram\n"
        for (label, histogram) in [("true", synced), ("false", buffered)] {
            for (index, bound) in RoundHistogram.boundsNanoseconds.enumerated() {
                out += "sluice_storage_round_seconds_bucket{sync=\"\(label)\",le=\"\(Double(bound) / 1e9)\"} \(histogram.cumulativeCounts[index])\n"
            }
            out += "sluice_storage_round_seconds_bucket{sync=\"\(label)\",le=\"+Inf\"} \(histogram.count)\n"
            out += "sluice_storage_round_seconds_sum{sync=\"\(label)\"} \(Double(histogram.sumNanoseconds) / 1e9)\n"
            out += "sluice_storage_round_seconds_count{sync=\"\(label)\"} \(histogram.count)\n"
        }
    }

    /// One partition's figures, read on its owner.
    struct PartitionFigures: Sendable {
        var topic: String
        var partition: Int32
        var logEndOffset: Int64
        var sizeBytes: Int64
        var underReplicated = false
        var underMinIsr = false
        /// Led here with no leader anywhere (its broker died with no in-sync replica to take over).
        var offline = false
        var maxFollowerLag: Int64 = 0
    }

    /// Updates the read-on-scrape gauges and renders everything.
    func render(partitions: [PartitionFigures], groups: Int) -> [UInt8] {
        registry.makeGauge(name: "sluice_partitions", help: "Partitions hosted by this broker.").set(Double(partitions.count))
        registry.makeGauge(name: "sluice_groups", help: "Consumer groups the coordinator knows.").set(Double(groups))
        registry.makeGauge(name: "sluice_under_replicated_partitions",
                           help: "Partitions this broker leads with fewer replicas in sync than assigned.")
            .set(Double(partitions.filter(\.underReplicated).count))
        registry.makeGauge(name: "sluice_under_min_isr_partitions",
                           help: "Partitions this broker leads with fewer replicas in sync than min.insync.replicas (acks=all fails).")
            .set(Double(partitions.filter(\.underMinIsr).count))
        registry.makeGauge(name: "sluice_offline_partitions", help: "Partitions the metadata gives no leader (as this broker's image has it).")
            .set(Double(partitions.filter(\.offline).count))
        registry.makeGauge(name: "sluice_replica_max_lag_records",
                           help: "Records the furthest-behind follower of a partition this broker leads lacks.")
            .set(Double(partitions.map(\.maxFollowerLag).max() ?? 0))
        partitionGauges.withLockedValue { gauges in
            var seen = Set<String>()
            for figures in partitions {
                let key = "\(figures.topic)\u{0}\(figures.partition)"
                seen.insert(key)
                let pair = gauges[key] ?? {
                    let labels = [("topic", figures.topic), ("partition", "\(figures.partition)")]
                    let made = (registry.makeGauge(name: "sluice_log_end_offset", labels: labels),
                                registry.makeGauge(name: "sluice_log_size_bytes", labels: labels))
                    gauges[key] = made
                    return made
                }()
                pair.0.set(Double(figures.logEndOffset))
                pair.1.set(Double(figures.sizeBytes))
            }
            for (key, pair) in gauges where !seen.contains(key) {
                registry.unregisterGauge(pair.0)
                registry.unregisterGauge(pair.1)
                gauges[key] = nil
            }
        }
        var out: [UInt8] = []
        registry.emit(into: &out)
        var storageText = ""
        renderStorageRounds(into: &storageText)
        if let health {
            storageText += "# HELP sluice_corrupt_batches_total Batches that failed their CRC or size check when first read; never served.\n"
            storageText += "# TYPE sluice_corrupt_batches_total counter\nsluice_corrupt_batches_total \(health.corruptBatchesFound)\n"
            storageText += "# HELP sluice_log_dir_full 1 while an append has failed for want of space and the log directory has had no room since.\n"
            storageText += "# TYPE sluice_log_dir_full gauge\nsluice_log_dir_full \((diskSpace?.isFull() ?? health.isDiskFull) ? 1 : 0)\n"
            storageText += "# HELP sluice_disk_full_append_failures_total Appends that failed because the disk was full.\n"
            storageText += "# TYPE sluice_disk_full_append_failures_total counter\nsluice_disk_full_append_failures_total \(health.diskFullFailures)\n"
            storageText += "# HELP sluice_recovery_truncated_bytes_total Bytes recovery cut from damaged or torn log tails after an unclean stop.\n"
            storageText += "# TYPE sluice_recovery_truncated_bytes_total counter\nsluice_recovery_truncated_bytes_total \(health.recoveryTruncatedBytes)\n"
            storageText += "# HELP sluice_recovery_truncated_records_total Records in the batches recovery cut, as far as their headers could be read.\n"
            storageText += "# TYPE sluice_recovery_truncated_records_total counter\nsluice_recovery_truncated_records_total \(health.recoveryTruncatedRecords)\n"
        }
        if let cleaner {
            let figures = cleaner.statistics
            let secondsSinceRun = figures.lastRunEndMs > 0 ? Double(wallClockMilliseconds() - figures.lastRunEndMs) / 1000 : -1
            for (name, type, help, value) in [
                ("sluice_log_cleaner_runs_total", "counter", "Cleanings of a compacted log that completed.", "\(figures.runs)"),
                ("sluice_log_cleaner_bytes_read_total", "counter", "Bytes the log cleaner read (dirty segments twice).", "\(figures.bytesRead)"),
                ("sluice_log_cleaner_bytes_cleaned_total", "counter", "Bytes of log the cleaner rewrote.", "\(figures.bytesCleaned)"),
                ("sluice_log_cleaner_bytes_written_total", "counter", "Bytes the log cleaner wrote.", "\(figures.bytesWritten)"),
                ("sluice_log_cleaner_records_removed_total", "counter", "Records compaction removed.", "\(figures.recordsRemoved)"),
                ("sluice_log_cleaner_failures_total", "counter", "Cleanings that failed (logged with the reason).", "\(figures.failures)"),
                ("sluice_log_cleaner_last_ratio", "gauge", "Bytes written over bytes read by the last cleaning.", "\(figures.lastRatio)"),
                ("sluice_log_cleaner_last_run_seconds", "gauge", "How long the last cleaning took.", "\(Double(figures.lastRunMs) / 1000)"),
                ("sluice_log_cleaner_seconds_total", "counter", "Time spent cleaning, over all runs.", "\(Double(figures.cleaningMs) / 1000)"),
                ("sluice_log_cleaner_seconds_since_last_run", "gauge", "Seconds since a cleaning last completed; -1 before the first.", "\(secondsSinceRun)"),
                ("sluice_log_cleaner_max_dirty_ratio", "gauge", "The dirtiest compacted log's uncleaned share at the cleaner's last look.", "\(figures.maxDirtyRatio)"),
            ] {
                storageText += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
            }
        }
        if let transactions {
            for (name, type, help, value) in [
                ("sluice_transactions_open", "gauge", "Transactions open now (Ongoing).", transactions.openTransactions),
                ("sluice_transactions_committed_total", "counter", "Transactions completed with a commit.", transactions.committed),
                ("sluice_transactions_aborted_total", "counter", "Transactions completed with an abort.", transactions.aborted),
                ("sluice_transactions_timed_out_total", "counter", "Transactions the coordinator aborted past transaction.timeout.ms.",
                 transactions.abortedByTimeout),
                ("sluice_transactions_fenced_total", "counter", "Open transactions aborted for a new producer of their transactional.id.",
                 transactions.abortedByFencing),
            ] {
                storageText += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
            }
        }
        if let replication {
            storageText += "# HELP sluice_isr_shrinks_total ISR shrinks this broker's leaders made.\n"
            storageText += "# TYPE sluice_isr_shrinks_total counter\nsluice_isr_shrinks_total \(replication.isrShrinks)\n"
            storageText += "# HELP sluice_isr_expands_total ISR expansions this broker's leaders made.\n"
            storageText += "# TYPE sluice_isr_expands_total counter\nsluice_isr_expands_total \(replication.isrExpands)\n"
        }
        out += Array(storageText.utf8)
        return out
    }
}
