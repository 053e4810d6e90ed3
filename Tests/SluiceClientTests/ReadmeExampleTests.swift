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
        await checker.close()
    }

    @Test func theReadmeShowsThisCode() throws {
        let here = String(#filePath)
        let root = String(here[..<here.range(of: "/Tests/")!.lowerBound])
        let readme = try #require(readText(root + "/README.md"))
        let source = try #require(readText(here))
        for name in ["producer", "consumer"] {
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
