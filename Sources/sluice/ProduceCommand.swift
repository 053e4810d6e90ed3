import ArgumentParser
import Glibc
import KafkaProtocol
import NIOCore
import SluiceClient

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce one record per input line (the value; a key only with --key-separator).",
        discussion: "Waits for every acknowledgement; exits non-zero when any record failed.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Topic to produce to.") var topic: String
    @Option(help: "Partition (default: by key, or sticky for unkeyed records).") var partition: Int32?
    @Option(help: "Split each line at the first occurrence into key and value.") var keySeparator: String?
    @Option(name: .customLong("header"), help: "Header key=value added to every record (repeatable).") var headers: [String] = []
    @Option(help: "Read lines from this file instead of stdin.") var file: String?
    @Option(help: "none, gzip, snappy, lz4 or zstd.") var compression: String = "none"
    @Option(help: "0, 1 or all.") var acks: String = "all"
    @Option(help: "linger in milliseconds.") var lingerMs: Int = 5

    func run() async throws {
        var config = KafkaProducerConfig(client: try connection.clientConfig())
        guard let codec = CompressionCodec(name: compression) else { throw ValidationError("unknown compression '\(compression)'") }
        config.compression = codec
        switch acks {
        case "all", "-1": config.acks = -1
        case "1": config.acks = 1
        case "0": config.acks = 0
        default: throw ValidationError("--acks must be 0, 1 or all")
        }
        config.enableIdempotence = config.acks == -1
        config.linger = .milliseconds(lingerMs)
        let recordHeaders = try parsePairs(headers, what: "--header").sorted { $0.key < $1.key }
            .map { RecordHeader(key: $0.key, value: ByteBuffer(string: $0.value)) }
        var input: UnsafeMutablePointer<FILE>? = nil
        if let file {
            guard let opened = fopen(file, "r") else { throw ValidationError("cannot open \(file)") }
            input = opened
        }
        defer { if let input { fclose(input) } }

        let producer = try KafkaProducer(config: config, logger: quietLogger())
        let failures = Task {
            var failed = 0
            var firstError: KafkaClientError?
            for await report in producer.deliveryReports {
                if case .failure(let error) = report.result {
                    failed += 1
                    if firstError == nil { firstError = error }
                }
            }
            return (failed, firstError)
        }
        var progress = ProgressLine("produced", recordSize: 0)
        var count = 0
        while let line = readInputLine(input) {
            var key: ByteBuffer?
            var value = line
            if let keySeparator, let range = line.range(of: keySeparator) {
                key = ByteBuffer(string: String(line[..<range.lowerBound]))
                value = String(line[range.upperBound...])
            }
            let record = ProducerRecord(topic: topic, partition: partition, key: key, value: ByteBuffer(string: value), headers: recordHeaders)
            if try producer.tryEnqueue(record) == nil { try await producer.enqueue(record) }
            count += 1
            progress.update(count: count, latency: nil)
        }
        await producer.close()
        let (failed, firstError) = await failures.value
        if count >= 10_000 { progress.update(count: count, latency: nil, force: true) }
        if failed > 0 {
            note("\(failed) of \(count) records failed; first error: \(firstError.map { "\($0)" } ?? "?")")
            throw ExitCode(1)
        }
        let retried = producer.statistics.batchesRetried
        note("produced \(count) records to \(topic)" + (retried > 0 ? " (\(retried) batches retried)" : ""))
    }
}

extension String {
    func range(of separator: String) -> Range<String.Index>? {
        guard !separator.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(separator) { return index..<self.index(index, offsetBy: separator.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

/// One line from `file` (stdin when nil), without its newline.
func readInputLine(_ file: UnsafeMutablePointer<FILE>?) -> String? {
    guard let file else { return readLine(strippingNewline: true) }
    var buffer: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(buffer) }
    let length = getline(&buffer, &capacity, file)
    guard length >= 0, let buffer else { return nil }
    var line = String(cString: buffer)
    if line.hasSuffix("\n") { line.removeLast() }
    return line
}
