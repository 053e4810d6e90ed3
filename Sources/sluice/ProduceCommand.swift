import ArgumentParser
import Glibc
import KafkaProtocol
import NIOCore
import SluiceClient

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce one record per input line (the value; a key only with --key-separator).",
        discussion: """
            Waits for every acknowledgement; exits non-zero when any record failed. The first SIGINT or SIGTERM stops \
            reading input and sends what was read (exit status 0 when all of it is acknowledged); a second exits at once \
            (130, 143).
            """)
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Topic to produce to.") var topic: String
    @Option(help: "Partition (default: by key, or sticky for unkeyed records).") var partition: Int32?
    @Option(help: "Split each line at the first occurrence into key and value.") var keySeparator: String?
    @Option(name: .customLong("header"), help: "Header key=value added to every record (repeatable).") var headers: [String] = []
    @Option(help: "Read lines from this file instead of stdin.") var file: String?
    @Option(help: "none, gzip, snappy, lz4 or zstd.") var compression: String = "none"
    @Option(help: "0, 1 or all.") var acks: String = "all"
    @Option(help: "linger in milliseconds.") var lingerMs: Int = 5
    @Option(help: "Produce in transactions under this transactional.id (acks=all): one commits every --transaction-records records and at the end of the input; a producer started with the same id fences this one.")
    var transactionalId: String?
    @Option(help: "Records per transaction, with --transactional-id.") var transactionRecords: Int = 1000

    func validate() throws {
        guard CompressionCodec(name: compression) != nil else {
            throw ValidationError("--compression must be none, gzip, snappy, lz4 or zstd, not '\(compression)'")
        }
        guard ["all", "-1", "1", "0"].contains(acks) else { throw ValidationError("--acks must be 0, 1 or all") }
        _ = try parsePairs(headers, what: "--header")
        if transactionalId != nil {
            guard acks == "all" || acks == "-1" else { throw ValidationError("--transactional-id needs --acks all") }
            guard transactionRecords > 0 else { throw ValidationError("--transaction-records must be positive") }
        }
    }

    func run() async throws {
        // First, so that a signal during start-up also ends the command gracefully.
        let signals = ShutdownSignals.install()
        var config = KafkaProducerConfig(client: try connection.clientConfig())
        config.compression = CompressionCodec(name: compression) ?? .none
        config.acks = acks == "all" ? -1 : Int16(acks) ?? -1
        config.enableIdempotence = config.acks == -1
        config.linger = .milliseconds(lingerMs)
        config.transactionalId = transactionalId
        let recordHeaders = try parsePairs(headers, what: "--header").sorted { $0.key < $1.key }
            .map { RecordHeader(key: $0.key, value: ByteBuffer(string: $0.value)) }
        let input: InputLines
        do {
            input = try InputLines(path: file, stopDescriptor: signals.wakeDescriptor)
        } catch {
            throw ValidationError("\(error)")
        }

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
        let progress = ProgressLine("produced")
        var count = 0
        var enqueueError: (any Error)?
        var transactions = 0
        if transactionalId != nil {
            do {
                try await producer.initTransactions()
                try producer.beginTransaction()
            } catch {
                await producer.close()
                throw error
            }
        }
        // The first signal stops the reading (a read waiting for input ends at once); what was
        // enqueued is still sent below.
        while !signals.requested, let line = await input.next() {
            var key: ByteBuffer?
            var value = line
            if let keySeparator, let range = line.range(of: keySeparator) {
                key = ByteBuffer(string: String(line[..<range.lowerBound]))
                value = String(line[range.upperBound...])
            }
            let record = ProducerRecord(topic: topic, partition: partition, key: key, value: ByteBuffer(string: value), headers: recordHeaders)
            do {
                if try producer.tryEnqueue(record) == nil { try await producer.enqueue(record) }
            } catch {
                enqueueError = error
                break
            }
            count += 1
            progress.set(count)
            if transactionalId != nil, count % transactionRecords == 0 {
                do {
                    try await producer.commitTransaction()
                    transactions += 1
                    try producer.beginTransaction()
                } catch {
                    enqueueError = error
                    break
                }
            }
        }
        progress.stop()
        if transactionalId != nil {
            do {
                if let enqueueError {
                    note("aborting the open transaction: \(enqueueError)")
                    try? await producer.abortTransaction()
                } else if count % transactionRecords != 0 {
                    try await producer.commitTransaction()
                    transactions += 1
                }
            } catch {
                enqueueError = error
                try? await producer.abortTransaction()
            }
        }
        // Records already enqueued are sent and acknowledged (or fail) before the exit, whatever
        // ended the input.
        await producer.close()
        let (failed, firstError) = await failures.value
        if let enqueueError { throw enqueueError }
        if failed > 0 {
            note("\(failed) of \(count) records failed; first error: \(firstError.map { "\($0)" } ?? "?")")
            throw ExitCode(1)
        }
        let retried = producer.statistics.batchesRetried
        note("produced \(count) records to \(topic)" + (transactionalId != nil ? " in \(transactions) transactions" : "")
            + (retried > 0 ? " (\(retried) batches retried)" : ""))
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
