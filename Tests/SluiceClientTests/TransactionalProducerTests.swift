import KafkaProtocol
import NIOCore
import SluiceClient
import Synchronization
import Testing

/// The Swift client's transactional producer and read_committed consumer against a real
/// broker: what read_committed and read_uncommitted consumers see of committed and aborted
/// transactions, fencing, the state rules, and a consume-transform-produce loop.
@Suite("Transactional producer against a real broker")
struct TransactionalProducerTests {
    @Test(.timeLimit(.minutes(2)))
    func commitAbortCommitIsSeenAllOrNothing() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "ledger", partitions: 3))
        let producer = try transactionalProducer(broker, id: "ledger-writer")
        try await producer.initTransactions()

        try producer.beginTransaction()
        for index in 0..<100 { try await producer.enqueue(ProducerRecord(topic: "ledger", key: "k\(index % 9)", value: "first-\(index)")) }
        try await producer.commitTransaction()

        try producer.beginTransaction()
        for index in 0..<50 { try await producer.enqueue(ProducerRecord(topic: "ledger", key: "k\(index % 9)", value: "aborted-\(index)")) }
        await producer.flush()
        try await producer.abortTransaction()

        try producer.beginTransaction()
        for index in 0..<30 { try await producer.enqueue(ProducerRecord(topic: "ledger", key: "k\(index % 9)", value: "third-\(index)")) }
        try await producer.commitTransaction()
        await producer.close()

        let committed = try await readToEnd(broker, topic: "ledger", isolation: .readCommitted)
        let expected = (0..<100).map { "first-\($0)" } + (0..<30).map { "third-\($0)" }
        #expect(committed.map(\.value).sorted() == expected.sorted(), "read_committed: the two committed transactions, once each")
        let everything = try await readToEnd(broker, topic: "ledger", isolation: .readUncommitted)
        #expect(everything.map(\.value).sorted() == (expected + (0..<50).map { "aborted-\($0)" }).sorted(),
                "read_uncommitted: every record written, aborted ones included")
        // Three markers per partition touched by each transaction: 180 records + 9 markers.
        let ends = try await admin.listOffsets(topic: "ledger", spec: .latest)
        #expect(ends.values.reduce(0, +) == 189)
        await admin.close()
    }

    @Test(.timeLimit(.minutes(2)))
    func aSecondProducerWithTheSameIdFencesTheFirst() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "fenced", partitions: 2))
        let zombie = try transactionalProducer(broker, id: "fence-me")
        try await zombie.initTransactions()
        try zombie.beginTransaction()
        _ = try await zombie.send(ProducerRecord(topic: "fenced", key: "a", value: "zombie"))

        let successor = try transactionalProducer(broker, id: "fence-me")
        try await successor.initTransactions()
        try successor.beginTransaction()
        _ = try await successor.send(ProducerRecord(topic: "fenced", key: "a", value: "successor"))
        try await successor.commitTransaction()

        await #expect(throws: KafkaClientError.self, "the fenced producer cannot commit") { try await zombie.commitTransaction() }
        // Once fenced, nothing more: no new transaction, no send.
        #expect(throws: KafkaClientError.self) { try zombie.beginTransaction() }
        await zombie.close()
        await successor.close()

        let seen = try await readToEnd(broker, topic: "fenced", isolation: .readCommitted)
        #expect(seen.map(\.value) == ["successor"], "the zombie's open transaction was aborted by the successor's initTransactions")
        await admin.close()
    }

    @Test(.timeLimit(.minutes(2)))
    func callsOutOfOrderAreRefusedAndAFailedSendForcesAnAbort() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "small", partitions: 1, configs: ["max.message.bytes": "2000"]))
        let producer = try transactionalProducer(broker, id: "rules")
        await #expect(throws: KafkaClientError.self, "send before initTransactions") {
            try await producer.send(ProducerRecord(topic: "small", value: "early"))
        }
        try await producer.initTransactions()
        await #expect(throws: KafkaClientError.self, "send outside a transaction") {
            try await producer.send(ProducerRecord(topic: "small", value: "outside"))
        }
        await #expect(throws: KafkaClientError.self, "commit without a transaction") { try await producer.commitTransaction() }

        // A record the topic refuses (MESSAGE_TOO_LARGE) spoils the transaction.
        try producer.beginTransaction()
        _ = try await producer.send(ProducerRecord(topic: "small", value: "fine"))
        let tooLarge = ProducerRecord(topic: "small", value: ByteBuffer(repeating: 0x61, count: 10_000))
        do {
            _ = try await producer.send(tooLarge)
            Issue.record("a record over max.message.bytes was accepted")
        } catch let error as KafkaClientError {
            #expect(error.code == .messageTooLarge)
        }
        do {
            try await producer.commitTransaction()
            Issue.record("a transaction with a failed record committed")
        } catch let error as KafkaClientError {
            #expect(error.kind == .invalidState)
        }
        try await producer.abortTransaction()

        // The abort bumped the epoch (the failed batch's sequence is unknown to the broker), so
        // the next transaction's sequences start again and it commits.
        try producer.beginTransaction()
        _ = try await producer.send(ProducerRecord(topic: "small", value: "after"))
        try await producer.commitTransaction()
        await producer.close()
        let seen = try await readToEnd(broker, topic: "small", isolation: .readCommitted)
        #expect(seen.map(\.value) == ["after"])
        await admin.close()
    }

    @Test(.timeLimit(.minutes(2)))
    func abortDropsWhatWasNotSentYet() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "lingering", partitions: 1))
        var config = KafkaProducerConfig(client: try broker.clientConfig())
        config.transactionalId = "lingerer"
        config.linger = .seconds(30)
        let producer = try KafkaProducer(config: config)
        try await producer.initTransactions()
        try producer.beginTransaction()
        let ids = try await (0..<10).asyncMap { try await producer.enqueue(ProducerRecord(topic: "lingering", value: "never-\($0)")) }
        try await producer.abortTransaction()
        var reports = producer.deliveryReports.makeAsyncIterator()
        for id in ids {
            let report = try #require(await reports.next())
            #expect(report.id == id)
            guard case .failure(let error) = report.result else { Issue.record("record \(id) was delivered"); continue }
            #expect(error.kind == .transactionAborted)
        }
        try producer.beginTransaction()
        try await producer.enqueue(ProducerRecord(topic: "lingering", value: "kept"))
        try await producer.commitTransaction()
        await producer.close()
        let seen = try await readToEnd(broker, topic: "lingering", isolation: .readUncommitted)
        #expect(seen.map(\.value) == ["kept"], "the aborted records never reached the broker")
        await admin.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func consumeTransformProduceCopiesATopicExactlyOnce() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "eos-in", partitions: 3))
        try await admin.createTopic(NewTopic(name: "eos-out", partitions: 3))
        let input = try KafkaProducer(config: KafkaProducerConfig(client: try broker.clientConfig()))
        for index in 0..<600 { try await input.enqueue(ProducerRecord(topic: "eos-in", key: "k\(index % 17)", value: "v\(index)")) }
        await input.close()

        var consumerConfig = KafkaConsumerConfig(client: try broker.clientConfig())
        consumerConfig.groupId = "copier"
        consumerConfig.autoOffsetReset = .earliest
        consumerConfig.enableAutoCommit = false
        consumerConfig.isolationLevel = .readCommitted
        let consumer = KafkaConsumer(config: consumerConfig)
        try await consumer.subscribe(topics: ["eos-in"])
        let producer = try transactionalProducer(broker, id: "copier-txn")
        try await producer.initTransactions()

        // One transaction per fetched batch; every third is aborted and its input read again
        // from the last committed position, as an application does after an abort.
        var committedPositions: [TopicPartition: Int64] = [:]
        var copied = 0
        var transactions = 0
        var aborted = 0
        var batches = consumer.batches.makeAsyncIterator()
        while copied < 600 {
            let batch = try #require(await batches.next())
            guard let last = batch.last else { continue }
            let partition = TopicPartition(last.topic, last.partition)
            try producer.beginTransaction()
            for record in batch {
                try await producer.enqueue(ProducerRecord(topic: "eos-out", key: record.key, value: ByteBuffer(string: "copy of \(String(buffer: record.value ?? ByteBuffer()))")))
            }
            let position = [partition: last.offset + 1]
            let metadata = try await consumer.groupMetadata()
            try await producer.sendOffsetsToTransaction(position, groupMetadata: metadata)
            transactions += 1
            if transactions % 3 == 0 {
                // Flushed first, so the aborted copies are on the broker, not just dropped.
                await producer.flush()
                try await producer.abortTransaction()
                aborted += 1
                consumer.seek(partition, to: .offset(committedPositions[partition] ?? 0))
            } else {
                try await producer.commitTransaction()
                committedPositions[partition] = last.offset + 1
                copied += batch.count
            }
        }
        await producer.close()
        await consumer.close()
        #expect(aborted > 0)

        let output = try await readToEnd(broker, topic: "eos-out", isolation: .readCommitted)
        #expect(output.map(\.value).sorted() == (0..<600).map { "copy of v\($0)" }.sorted(), "every input record copied exactly once")
        let offsets = try await admin.committedOffsets(group: "copier")
        let ends = try await admin.listOffsets(topic: "eos-in", spec: .latest)
        for (partition, end) in ends {
            #expect(offsets[TopicPartition("eos-in", partition)]?.offset == end, "the group's offsets moved with the committed transactions")
        }
        await admin.close()
    }

    @Test(.timeLimit(.minutes(2)))
    func theCoordinatorAbortsATransactionThatOutlivesItsTimeout() async throws {
        let broker = try BrokerFixture(settings: [("transaction.abort.timed.out.transaction.cleanup.interval.ms", "200")])
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "slow", partitions: 1))
        var config = KafkaProducerConfig(client: try broker.clientConfig())
        config.transactionalId = "slowpoke"
        config.transactionTimeout = .seconds(1)
        let producer = try KafkaProducer(config: config)
        try await producer.initTransactions()
        try producer.beginTransaction()
        _ = try await producer.send(ProducerRecord(topic: "slow", value: "too late"))
        try await Task.sleep(for: .seconds(3))
        do {
            try await producer.commitTransaction()
            Issue.record("a transaction past its timeout committed")
        } catch let error as KafkaClientError {
            // The coordinator's abort bumped the epoch: Kafka answers the old one with
            // PRODUCER_FENCED (EndTxn v2+) or INVALID_PRODUCER_EPOCH.
            #expect(error.code == .producerFenced || error.code == .invalidProducerEpoch, "\(error)")
        }
        await producer.close()
        let seen = try await readToEnd(broker, topic: "slow", isolation: .readCommitted)
        #expect(seen.isEmpty)
        await admin.close()
    }
}

func transactionalProducer(_ broker: BrokerFixture, id: String) throws -> KafkaProducer {
    var config = KafkaProducerConfig(client: try broker.clientConfig())
    config.transactionalId = id
    return try KafkaProducer(config: config)
}

struct ReadRecord: Sendable, Hashable {
    var partition: Int32
    var offset: Int64
    var value: String
}

/// Every record of `topic` from the beginning until the consumer's positions reach the
/// partitions' end offsets (markers included: a read_committed position moves past them).
func readToEnd(_ broker: BrokerFixture, topic: String, isolation: IsolationLevel) async throws -> [ReadRecord] {
    try await readToEnd(try broker.clientConfig(), topic: topic, isolation: isolation)
}

func readToEnd(_ client: KafkaClientConfig, topic: String, isolation: IsolationLevel) async throws -> [ReadRecord] {
    let admin = KafkaAdmin(config: client)
    let ends = try await admin.listOffsets(topic: topic, spec: .latest)
    await admin.close()
    var config = KafkaConsumerConfig(client: client)
    config.autoOffsetReset = .earliest
    config.isolationLevel = isolation
    config.fetchMaxWait = .milliseconds(100)
    let consumer = KafkaConsumer(config: config)
    try await consumer.assign(topic: topic)
    let collected = Mutex<[ReadRecord]>([])
    let reader = Task {
        for await batch in consumer.batches {
            let read = batch.map { ReadRecord(partition: $0.partition, offset: $0.offset, value: String(buffer: $0.value ?? ByteBuffer())) }
            collected.withLock { $0 += read }
        }
    }
    let deadline = ContinuousClock.now + .seconds(30)
    func reachedEnd() -> Bool {
        ends.allSatisfy { partition, end in end == 0 || (consumer.position(TopicPartition(topic, partition)) ?? -1) >= end }
    }
    while !reachedEnd() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
    #expect(reachedEnd(), "the consumer's positions reach the end offsets \(ends)")
    // A moment for a batch already taken to be appended, then stop.
    try await Task.sleep(for: .milliseconds(100))
    await consumer.close()
    await reader.value
    return collected.withLock { $0 }.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
