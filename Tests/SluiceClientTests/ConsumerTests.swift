import KafkaProtocol
import NIOCore
import SluiceClient
import Testing

@Suite("Consumer against a real broker")
struct ConsumerTests {
    @Test func readsBackWhatWasProducedSeeksAndResumesFromCommits() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "events", partitions: 3))
        var producerConfig = KafkaProducerConfig(client: try broker.clientConfig())
        producerConfig.compression = .lz4
        producerConfig.linger = .zero
        let producer = try KafkaProducer(config: producerConfig)
        var sent: [TopicPartition: [String]] = [:]
        for index in 0..<2_000 {
            let record = ProducerRecord(topic: "events", key: "k\(index % 11)", value: "v\(index)",
                                        headers: [RecordHeader(key: "n", value: ByteBuffer(string: "\(index)"))])
            let metadata = try await producer.enqueueAndWait(record)
            sent[TopicPartition("events", metadata.partition), default: []].append("v\(index)")
        }
        await producer.close()

        var config = KafkaConsumerConfig(client: try broker.clientConfig())
        config.groupId = "readers"
        config.autoOffsetReset = .earliest
        let consumer = KafkaConsumer(config: config)
        try await consumer.assign(topic: "events")
        var got: [TopicPartition: [String]] = [:]
        var iterator = consumer.records.makeAsyncIterator()
        for _ in 0..<2_000 {
            let record = try #require(await iterator.next())
            let value = String(buffer: record.value ?? ByteBuffer())
            #expect(record.headers.first.map { String(buffer: $0.value ?? ByteBuffer()) } == String(value.dropFirst()))
            got[TopicPartition(record.topic, record.partition), default: []].append(value)
        }
        #expect(got == sent, "every record once, in order per partition")
        let first = TopicPartition("events", 0)
        #expect(consumer.lag(first) == 0)

        // Commit half of partition 0, then a new consumer in the group resumes there.
        let half = Int64(sent[first]!.count / 2)
        try await consumer.commit([first: half])
        consumer.seek(first, to: .beginning)
        let again = try #require(await iterator.next())
        #expect(again.partition == 0 && again.offset == 0, "seek to the beginning re-reads from offset 0")
        await consumer.close()

        let resumed = KafkaConsumer(config: config)
        try await resumed.assign([first])
        var resumedIterator = resumed.records.makeAsyncIterator()
        let next = try #require(await resumedIterator.next())
        #expect(next.offset == half)
        #expect(String(buffer: next.value!) == sent[first]![Int(half)])
        // A background commit returns at once; close waits for it, and it is stored.
        resumed.commitInBackground([first: half + 7])
        await resumed.close()
        let committed = try await admin.committedOffsets(group: try #require(config.groupId), partitions: [first])
        #expect(committed[first]?.offset == half + 7)
        await admin.close()
    }
}

extension ConsumerTests {
    /// `batches`: the same records, a fetched batch at a time, in order per partition; each
    /// batch moves the position past its last record, and a seek drops what was fetched before.
    @Test func batchesHandOutEveryRecordInOrderAndMovePositions() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "bulk", partitions: 2))
        var producerConfig = KafkaProducerConfig(client: try broker.clientConfig())
        producerConfig.batchSize = 4_000
        let producer = try KafkaProducer(config: producerConfig)
        for index in 0..<6_000 {
            try await producer.enqueue(ProducerRecord(topic: "bulk", partition: Int32(index % 2), value: "\(index)"))
        }
        await producer.close()
        var config = KafkaConsumerConfig(client: try broker.clientConfig())
        config.autoOffsetReset = .earliest
        let consumer = KafkaConsumer(config: config)
        try await consumer.assign(topic: "bulk")
        var seen: [Int32: [Int]] = [:]
        var count = 0
        for await batch in consumer.batches {
            let partition = try #require(batch.first?.partition)
            #expect(batch.allSatisfy { $0.partition == partition }, "a batch is one partition's share of a fetch")
            seen[partition, default: []] += batch.map { Int(String(buffer: $0.value ?? ByteBuffer())) ?? -1 }
            #expect(consumer.position(TopicPartition("bulk", partition)) == (batch.last?.offset ?? -2) + 1)
            count += batch.count
            if count == 6_000 { break }
        }
        #expect(seen[0] == Array(stride(from: 0, to: 6_000, by: 2)))
        #expect(seen[1] == Array(stride(from: 1, to: 6_000, by: 2)))
        let first = TopicPartition("bulk", 0)
        consumer.seek(first, to: .offset(10))
        var iterator = consumer.batches.makeAsyncIterator()
        let again = try #require(await iterator.next())
        #expect(again.first?.offset == 10 && again.first?.partition == 0, "after a seek, the next batch starts there")
        await consumer.close()
        await admin.close()
    }
}

extension KafkaProducer {
    /// Sends one record and waits: for tests that need the offset of each.
    func enqueueAndWait(_ record: ProducerRecord) async throws -> RecordMetadata {
        try await send(record)
    }
}

extension ConsumerTests {
    /// `enableAutoOffsetStore = false` (librdkafka's enable.auto.offset.store): commits store
    /// what the application marked with `storeOffsets`, not how far it has read — for a
    /// subscribed member at close (auto-commit) as for `commit()` on assigned partitions.
    @Test(.timeLimit(.minutes(2)))
    func withoutAutoStoreOnlyStoredOffsetsAreCommitted() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "stored", partitions: 2))
        let producer = try KafkaProducer(config: KafkaProducerConfig(client: try broker.clientConfig()))
        for index in 0..<40 { try await producer.enqueue(ProducerRecord(topic: "stored", partition: Int32(index % 2), value: "\(index)")) }
        await producer.close()
        func consumer(group: String) throws -> KafkaConsumer {
            var config = KafkaConsumerConfig(client: try broker.clientConfig())
            config.groupId = group
            config.autoOffsetReset = .earliest
            config.enableAutoOffsetStore = false
            config.heartbeatInterval = .milliseconds(200)
            return KafkaConsumer(config: config)
        }
        let first = TopicPartition("stored", 0)

        let assigned = try consumer(group: "assigned")
        try await assigned.assign(topic: "stored")
        var read = 0
        for await _ in assigned.records {
            read += 1
            if read == 30 { break }
        }
        try await assigned.commit()
        #expect(try await admin.committedOffsets(group: "assigned").isEmpty, "nothing stored, nothing committed")
        assigned.storeOffsets([first: 4, TopicPartition("other", 0): 9])
        try await assigned.commit()
        await assigned.close()
        let committed = try await admin.committedOffsets(group: "assigned")
        #expect(committed.mapValues(\.offset) == [first: 4], "only the stored offset of an assigned partition")

        let member = try consumer(group: "member")
        try await member.subscribe(topics: ["stored"])
        read = 0
        for await record in member.records {
            read += 1
            if record.partition == 0 && record.offset == 6 { member.storeOffsets([first: 7]) }
            if read == 30 { break }
        }
        await member.close()
        let memberCommitted = try await admin.committedOffsets(group: "member")
        #expect(memberCommitted.mapValues(\.offset) == [first: 7], "auto-commit at close stores what was stored, not the 30 read")
        await admin.close()
    }
}
