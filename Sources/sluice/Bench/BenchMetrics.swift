import Glibc

/// `--metrics URL`: the broker's own view of a run, next to the client's. The endpoint is read
/// before and after the run, and what changed is summarised — requests per second per API, bytes
/// in and out, records in, storage rounds with and without fdatasync (p50, p99 from the
/// histogram's buckets), connections — rather than dumping a few hundred Prometheus lines.
struct BrokerMetricsSample: Sendable {
    /// Series ("name" or "name{label=\"value\",...}") to value.
    let series: [String: Double]
    /// Monotonic nanoseconds when it was read.
    let takenAt: UInt64

    /// nil when the endpoint cannot be read.
    static func scrape(_ url: String) -> BrokerMetricsSample? {
        guard let text = httpGet(url) else { return nil }
        return BrokerMetricsSample(series: parse(text), takenAt: monotonicNanos())
    }

    /// Prometheus text format: `name{labels} value` per line, comments skipped.
    static func parse(_ text: String) -> [String: Double] {
        var series: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = promValue(line[line.index(after: space)...]) else { continue }
            series[String(line[..<space])] = value
        }
        return series
    }

    private static func promValue(_ text: Substring) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        default: return Double(text)
        }
    }

    /// The series named `name`, by the value of `label` (`sluice_requests_total{api="Fetch"}`
    /// under "api" gives "Fetch").
    func values(of name: String, by label: String, where filter: String? = nil) -> [String: Double] {
        var result: [String: Double] = [:]
        for (key, value) in series where key.hasPrefix(name + "{") {
            if let filter, !key.contains(filter) { continue }
            guard let labelValue = Self.label(label, in: key) else { continue }
            result[labelValue] = value
        }
        return result
    }

    private static func label(_ name: String, in key: String) -> String? {
        guard let start = key.range(of: name + "=\"") else { return nil }
        let rest = key[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }
}

/// What changed at the broker between two samples (or, without the first, since it started).
struct BrokerMetricsSummary {
    struct Rounds {
        var count: Double
        var p50Ms: Double?
        var p99Ms: Double?
    }

    let url: String
    /// nil when there was no sample before the run: the figures are totals since start.
    let seconds: Double?
    let requests: [(api: String, count: Double)]
    let bytesIn: Double
    let bytesOut: Double
    let recordsIn: Double
    let syncRounds: Rounds
    let plainRounds: Rounds
    let connections: Double

    init(url: String, before: BrokerMetricsSample?, after: BrokerMetricsSample) {
        self.url = url
        seconds = before.map { Double(after.takenAt &- $0.takenAt) / 1e9 }
        func delta(_ name: String) -> Double { (after.series[name] ?? 0) - (before?.series[name] ?? 0) }
        let requestsAfter = after.values(of: "sluice_requests_total", by: "api")
        let requestsBefore = before?.values(of: "sluice_requests_total", by: "api") ?? [:]
        requests = requestsAfter.map { (api: $0.key, count: $0.value - (requestsBefore[$0.key] ?? 0)) }
            .filter { $0.count > 0 }
            .sorted { $0.count == $1.count ? $0.api < $1.api : $0.count > $1.count }
        bytesIn = delta("sluice_bytes_in_total")
        bytesOut = delta("sluice_bytes_out_total")
        recordsIn = delta("sluice_records_in_total")
        syncRounds = Self.rounds(sync: "true", before: before, after: after)
        plainRounds = Self.rounds(sync: "false", before: before, after: after)
        connections = after.series["sluice_connections"] ?? 0
    }

    private static func rounds(sync: String, before: BrokerMetricsSample?, after: BrokerMetricsSample) -> Rounds {
        let filter = "sync=\"\(sync)\""
        let bucketsAfter = after.values(of: "sluice_storage_round_seconds_bucket", by: "le", where: filter)
        let bucketsBefore = before?.values(of: "sluice_storage_round_seconds_bucket", by: "le", where: filter) ?? [:]
        let buckets = bucketsAfter.compactMap { le, count -> (le: Double, count: Double)? in
            guard let bound = le == "+Inf" ? Double.infinity : Double(le) else { return nil }
            return (bound, count - (bucketsBefore[le] ?? 0))
        }.sorted { $0.le < $1.le }
        let total = buckets.last?.count ?? 0
        return Rounds(count: total, p50Ms: quantile(0.5, buckets).map { $0 * 1000 }, p99Ms: quantile(0.99, buckets).map { $0 * 1000 })
    }

    /// Prometheus's histogram_quantile: linear within the bucket the rank falls in; the highest
    /// finite bound when it falls in +Inf.
    static func quantile(_ q: Double, _ buckets: [(le: Double, count: Double)]) -> Double? {
        guard let total = buckets.last?.count, total > 0 else { return nil }
        let rank = q * total
        var lower = 0.0
        var below = 0.0
        for bucket in buckets {
            if bucket.count >= rank {
                if bucket.le.isInfinite { return lower }
                let inBucket = bucket.count - below
                return inBucket > 0 ? lower + (bucket.le - lower) * (rank - below) / inBucket : bucket.le
            }
            lower = bucket.le
            below = bucket.count
        }
        return lower
    }

    private func perSecond(_ value: Double, _ unit: String, decimals: Int = 0) -> String {
        guard let seconds, seconds > 0 else { return "" }
        return " (\(format(value / seconds, decimals))\(unit)/s)"
    }

    private func describe(_ rounds: Rounds) -> String {
        guard rounds.count > 0 else { return "none" }
        return "\(Int(rounds.count)), p50 \(format(rounds.p50Ms ?? 0, 2)) ms, p99 \(format(rounds.p99Ms ?? 0, 2)) ms"
    }

    var rows: [(String, String)] {
        let rates = requests.map { entry in
            seconds.map { "\(entry.api) \(format(entry.count / max($0, 1e-9), 1))" } ?? "\(entry.api) \(Int(entry.count))"
        }
        return [
            (seconds == nil ? "requests" : "requests/s", rates.isEmpty ? "none" : rates.joined(separator: ", ")),
            ("bytes in", "\(format(bytesIn / 1e6, 2)) MB" + perSecond(bytesIn / 1e6, " MB", decimals: 1)),
            ("bytes out", "\(format(bytesOut / 1e6, 2)) MB" + perSecond(bytesOut / 1e6, " MB", decimals: 1)),
            ("records in", "\(Int(recordsIn))" + perSecond(recordsIn, " records")),
            ("storage rounds, fdatasync", describe(syncRounds)),
            ("storage rounds, no sync", describe(plainRounds)),
            ("connections", "\(Int(connections)) open after the run"),
        ]
    }

    func printTable() {
        print("broker (\(url)), " + (seconds.map { "\(format($0, 2)) s from before the run to after it:" } ?? "totals since it started:"))
        let rows = self.rows
        let width = rows.map(\.0.count).max() ?? 0
        for (name, value) in rows { print("  " + name + String(repeating: " ", count: width - name.count) + "  " + value) }
    }

    /// The same figures as a JSON object, for `--json`.
    var jsonText: String {
        func rounds(_ rounds: Rounds) -> String {
            "{\"count\":\(Int(rounds.count)),\"p50Ms\":\(rounds.p50Ms.map { format($0, 3) } ?? "null"),"
                + "\"p99Ms\":\(rounds.p99Ms.map { format($0, 3) } ?? "null")}"
        }
        let requestFields = requests.map { "\(jsonString($0.api)):\(Int($0.count))" }.joined(separator: ",")
        return "{\"url\":\(jsonString(url)),\"seconds\":\(seconds.map { format($0, 3) } ?? "null"),"
            + "\"requests\":{\(requestFields)},\"bytesIn\":\(Int(bytesIn)),\"bytesOut\":\(Int(bytesOut)),"
            + "\"recordsIn\":\(Int(recordsIn)),\"storageRoundsSync\":\(rounds(syncRounds)),"
            + "\"storageRoundsNoSync\":\(rounds(plainRounds)),\"connections\":\(Int(connections))}"
    }
}

func httpGet(_ url: String) -> String? {
    guard url.hasPrefix("http://") else { return nil }
    let rest = url.dropFirst("http://".count)
    let slash = rest.firstIndex(of: "/") ?? rest.endIndex
    let authority = rest[..<slash]
    let path = slash == rest.endIndex ? "/" : String(rest[slash...])
    guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]) else { return nil }
    let host = String(authority[..<colon])
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var found: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else { return nil }
    defer { freeaddrinfo(found) }
    let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else { return nil }
    let request = "GET \(path) HTTP/1.0\r\nHost: \(host)\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += chunk[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let body = text.range(of: "\r\n\r\n") else { return nil }
    return String(text[body.upperBound...])
}
