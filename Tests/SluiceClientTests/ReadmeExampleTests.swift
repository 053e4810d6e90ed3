import KafkaProtocol
import NIOCore
import SluiceClient
import SluiceCore
import Testing

/// The README's producer and consumer examples, compiled and run here against a real broker;
/// a second test checks the README still shows exactly this code.
@Suite("README examples")
struct ReadmeExampleTests {
    @Test func theExamplesRun() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "orders", partitions: 1))
        await admin.close()
        let bootstrap = broker.bootstrap
        try await readmeProducer(bootstrap: bootstrap)
        let checker = KafkaAdmin(config: try broker.clientConfig())
        #expect(try await checker.listOffsets(topic: "orders", spec: .latest) == [0: 100])
        try await readmeConsumer(bootstrap: bootstrap)
        let committed = try await checker.committedOffsets(group: "billing")
        #expect(committed[TopicPartition("orders", 0)]?.offset == 100, "the consumer read all 100 and committed")
        try await readmeTransactions(bootstrap: bootstrap)
        let invoices = try await readToEnd(broker, topic: "invoices", isolation: .readCommitted)
        #expect(invoices.map(\.value) == (0..<100).map { "order \($0)" }, "every order copied once, in order")
        let copied = try await checker.committedOffsets(group: "invoicer")
        #expect(copied[TopicPartition("orders", 0)]?.offset == 100, "the copier's position committed with its output")
        await checker.close()
    }

    @Test func theReadmeShowsThisCode() throws {
        let here = String(#filePath)
        let root = String(here[..<here.range(of: "/Tests/")!.lowerBound])
        let readme = try #require(readText(root + "/README.md"))
        let source = try #require(readText(here))
        for name in ["producer", "consumer", "transactions"] {
            let snippet = try #require(between(source, "// BEGIN README \(name)\n", "        // END README \(name)"))
            let dedented = snippet.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }.joined(separator: "\n")
            #expect(readme.contains(dedented), "README.md must show the \(name) example exactly as compiled here:\n\(dedented)")
        }
    }

    func readmeProducer(bootstrap: String) async throws {
        // BEGIN README producer
        let client = try KafkaClientConfig(bootstrap: bootstrap)
        var config = KafkaProducerConfig(client: client)
        config.compression = .lz4
        let producer = try KafkaProducer(config: config)
        for index in 0..<100 {
            // Awaits the acknowledgement; `enqueue` instead returns at once and
            // reports on `producer.deliveryReports`.
            let stored = try await producer.send(
                ProducerRecord(topic: "orders", key: "customer-\(index % 7)", value: "order \(index)"))
            print("order \(index) stored at partition \(stored.partition), offset \(stored.offset)")
        }
        await producer.close()
        // END README producer
    }

    func readmeConsumer(bootstrap: String) async throws {
        // BEGIN README consumer
        var config = KafkaConsumerConfig(client: try KafkaClientConfig(bootstrap: bootstrap))
        config.groupId = "billing"
        config.autoOffsetReset = .earliest
        let consumer = KafkaConsumer(config: config)
        try await consumer.assign(topic: "orders")
        for await record in consumer.records {
            print(record.partition, record.offset, String(buffer: record.value ?? ByteBuffer()))
            if record.offset == 99 { break }
        }
        try await consumer.commit()  // positions reached, for the group "billing"
        await consumer.close()
        // END README consumer
    }

    func readmeTransactions(bootstrap: String) async throws {
        // BEGIN README transactions
        // Copies "orders" to "invoices" exactly once: each batch's copies and the
        // consumer's new position are committed together, or neither is.
        let client = try KafkaClientConfig(bootstrap: bootstrap)
        var consumerConfig = KafkaConsumerConfig(client: client)
        consumerConfig.groupId = "invoicer"
        consumerConfig.autoOffsetReset = .earliest
        consumerConfig.enableAutoCommit = false
        consumerConfig.isolationLevel = .readCommitted
        let consumer = KafkaConsumer(config: consumerConfig)
        try await consumer.subscribe(topics: ["orders"])
        var producerConfig = KafkaProducerConfig(client: client)
        producerConfig.transactionalId = "invoicer-1"
        let producer = try KafkaProducer(config: producerConfig)
        try await producer.initTransactions()  // fences an older "invoicer-1"
        var copied = 0
        for await batch in consumer.batches {
            guard let last = batch.last else { continue }
            try producer.beginTransaction()
            for record in batch {
                try await producer.enqueue(ProducerRecord(topic: "invoices", key: record.key, value: record.value))
            }
            try await producer.sendOffsetsToTransaction(
                [TopicPartition(last.topic, last.partition): last.offset + 1],
                groupMetadata: try await consumer.groupMetadata())
            try await producer.commitTransaction()  // or abortTransaction()
            copied += batch.count
            if copied == 100 { break }
        }
        await producer.close()
        await consumer.close()
        // END README transactions
    }
}

private func between(_ text: String, _ start: String, _ end: String) -> String? {
    guard let from = text.range(of: start), let to = text.range(of: end, range: from.upperBound..<text.endIndex) else { return nil }
    return String(text[from.upperBound..<to.lowerBound]).trimmingTrailingNewlines()
}

extension String {
    func range(of needle: String, range: Range<String.Index>? = nil) -> Range<String.Index>? {
        let haystack = range ?? startIndex..<endIndex
        var index = haystack.lowerBound
        while index < haystack.upperBound {
            if self[index..<haystack.upperBound].hasPrefix(needle) { return index..<self.index(index, offsetBy: needle.count) }
            index = self.index(after: index)
        }
        return nil
    }

    fileprivate func trimmingTrailingNewlines() -> String {
        var copy = self
        while copy.hasSuffix("\n") { copy.removeLast() }
        return copy
    }
}
