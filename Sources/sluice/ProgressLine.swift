/// The live line on stderr, at most once a second: throughput over the last second, MB/s when
/// the record size is known, and latency so far when measured.
struct ProgressLine {
    private var lastNanos = monotonicNanos()
    private var lastCount = 0
    let what: String
    let recordSize: Int

    init(_ what: String, recordSize: Int) {
        self.what = what
        self.recordSize = recordSize
    }

    mutating func update(count: Int, latency: LatencyRecorder?, force: Bool = false) {
        let now = monotonicNanos()
        guard force || now - lastNanos >= 1_000_000_000 else { return }
        let seconds = Double(now - lastNanos) / 1e9
        let rate = Double(count - lastCount) / seconds
        var line = "\(what) \(count) records, \(format(rate, 0)) records/s"
        if recordSize > 0 { line += ", \(format(rate * Double(recordSize) / 1e6, 1)) MB/s" }
        if let latency, latency.count > 0 { line += ", p99 \(format(latency.percentile(99), 2)) ms so far" }
        note(line)
        lastNanos = now
        lastCount = count
    }
}
