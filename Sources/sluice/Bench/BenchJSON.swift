/// `--json`: one object per result, written by hand to keep Foundation out of the binary.
func jsonText(_ result: BenchResult, broker: BrokerMetricsSummary? = nil) throws -> String {
    var fields: [String] = [
        "\"client\":\(jsonString(result.client))", "\"mode\":\(jsonString(result.mode))", "\"topic\":\(jsonString(result.topic))",
        "\"records\":\(result.records)", "\"recordSize\":\(result.recordSize)", "\"seconds\":\(format(result.seconds, 3))",
        "\"recordsPerSecond\":\(format(result.recordsPerSecond, 1))", "\"megabytesPerSecond\":\(format(result.megabytesPerSecond, 2))",
        "\"failed\":\(result.failed)",
    ]
    if let drain = result.drainSeconds { fields.append("\"drainSeconds\":\(format(drain, 3))") }
    if let latency = result.latencyMs {
        fields.append("\"latencyMs\":{\"p50\":\(format(latency.p50, 3)),\"p99\":\(format(latency.p99, 3)),"
                      + "\"p999\":\(format(latency.p999, 3)),\"max\":\(format(latency.max, 3))}")
    }
    let settings = result.settings.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
    fields.append("\"settings\":{\(settings.joined(separator: ","))}")
    if let broker { fields.append("\"broker\":\(broker.jsonText)") }
    return "{" + fields.joined(separator: ",") + "}"
}
