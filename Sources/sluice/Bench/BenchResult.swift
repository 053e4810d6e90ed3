import Histogram
import Synchronization

/// Latencies in microseconds, recorded from any task.
final class LatencyRecorder: Sendable {
    private let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three))

    func record(microseconds: UInt64) {
        histogram.withLock { _ = $0.record(min(microseconds, 600_000_000)) }
    }

    func record(since startNanos: UInt64, now: UInt64 = monotonicNanos()) {
        record(microseconds: now > startNanos ? (now - startNanos) / 1000 : 0)
    }

    var count: UInt64 { histogram.withLock { $0.totalCount } }

    /// Milliseconds at a percentile; 0 when nothing was recorded.
    func percentile(_ value: Double) -> Double {
        histogram.withLock { $0.totalCount == 0 ? 0 : Double($0.valueAtPercentile(value)) / 1000 }
    }

    var maxMilliseconds: Double { histogram.withLock { $0.totalCount == 0 ? 0 : Double($0.max) / 1000 } }

    var summary: LatencySummary {
        LatencySummary(p50: percentile(50), p99: percentile(99), p999: percentile(99.9), max: maxMilliseconds)
    }
}

struct LatencySummary {
    var p50: Double
    var p99: Double
    var p999: Double
    var max: Double
}

/// One scenario's outcome, as the table and `--json` show it.
struct BenchResult {
    var client = "sluice (Swift)"
    var mode: String
    var topic: String
    var records: Int
    var recordSize: Int
    /// For produce runs, the sending part: until the last record was handed to a producer.
    var seconds: Double
    /// For produce runs, from the last send to the last acknowledgement.
    var drainSeconds: Double? = nil
    var recordsPerSecond: Double
    var megabytesPerSecond: Double
    var failed: Int
    var latencyMs: LatencySummary?
    var settings: [String: String]

    func printTable() {
        var rows: [(String, String)] = [
            ("scenario", mode), ("topic", topic), ("records", "\(records)"), ("record size", "\(recordSize) B"),
            ("seconds", format(seconds, 2)),
        ]
        if let drainSeconds { rows.append(("drain seconds", format(drainSeconds, 2) + " (acknowledgements after the last send)")) }
        rows += [
            ("records/s", format(recordsPerSecond, 0)), ("MB/s", format(megabytesPerSecond, 1)),
            ("failed", "\(failed)"),
        ]
        if let latency = latencyMs {
            rows += [("latency p50", format(latency.p50, 3) + " ms"), ("latency p99", format(latency.p99, 3) + " ms"),
                     ("latency p99.9", format(latency.p999, 3) + " ms"), ("latency max", format(latency.max, 3) + " ms")]
        }
        rows += settings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let width = rows.map(\.0.count).max() ?? 0
        let rule = String(repeating: "-", count: width + 2 + (rows.map(\.1.count).max() ?? 0))
        print(rule)
        for (name, value) in rows { print(name + String(repeating: " ", count: width - name.count) + "  " + value) }
        print(rule)
    }
}

func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "-" }
    var multiplier = 1.0
    for _ in 0..<decimals { multiplier *= 10 }
    let rounded = (value * multiplier).rounded() / multiplier
    if decimals == 0 { return String(Int64(rounded)) }
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let have = text.distance(from: dot, to: text.endIndex) - 1
        if have < decimals { text += String(repeating: "0", count: decimals - have) }
    }
    return text
}
