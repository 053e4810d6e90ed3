import Synchronization

/// The live line on stderr: once a second while the count moves, the count so far and the rate
/// over that second, MB/s when the record size is known, and latency so far when measured.
///
/// A ticker prints it, not the code that counts: printed only when a record arrived (as it
/// was), a burst of 50 that then stopped showed as "1 records, 0 records/s" — the first record
/// of the burst, over the whole wait before it — and the rest never appeared.
final class ProgressLine: Sendable {
    private let counter = Atomic<Int>(0)
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    /// Counts come from `count` when given (an existing counter), else from `set`.
    init(_ what: String, recordSize: Int = 0, latency: LatencyRecorder? = nil, count: (@Sendable () -> Int)? = nil) {
        let source = count
        let task = Task { [weak self] in
            var last = 0
            var lastNanos = monotonicNanos()
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                let now = monotonicNanos()
                guard let current = source?() ?? self?.counter.load(ordering: .relaxed) else { break }
                guard current != last else {
                    lastNanos = now
                    continue
                }
                let rate = Double(current - last) / (Double(now - lastNanos) / 1e9)
                var line = "\(what) \(current) records, \(format(rate, 0)) records/s"
                if recordSize > 0 { line += ", \(format(rate * Double(recordSize) / 1e6, 1)) MB/s" }
                if let latency, latency.count > 0 { line += ", p99 \(format(latency.percentile(99), 2)) ms so far" }
                note(line)
                last = current
                lastNanos = now
            }
        }
        ticker.withLock { $0 = task }
    }

    func set(_ count: Int) {
        counter.store(count, ordering: .relaxed)
    }

    /// No more lines (the command prints its own summary).
    func stop() {
        ticker.withLock { $0 }?.cancel()
    }

    deinit {
        ticker.withLock { $0 }?.cancel()
    }
}
