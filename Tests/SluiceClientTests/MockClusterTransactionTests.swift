import KafkaProtocol
import NIOCore
import SluiceClient
import Testing

/// The transactional producer against librdkafka's mock cluster: a coordinator nobody here
/// wrote, with its errors injected. The mock keeps no markers (read_committed is checked
/// against the real broker in TransactionalProducerTests); what is checked here is the
/// producer's side: the calls it makes, and what it does with each coordinator error.
@Suite("Transactional producer against librdkafka's mock cluster", .enabled(if: MockCluster.binary != nil, "build it with Tools/mockbroker.sh"))
struct MockClusterTransactionTests {
    // API keys and Kafka error codes the faults below use.
    static let initProducerId = 22, addPartitionsToTxn = 24, addOffsetsToTxn = 25, endTxn = 26, txnOffsetCommit = 28
    static let coordinatorLoadInProgress = 14, coordinatorNotAvailable = 15, notCoordinator = 16
    static let concurrentTransactions = 51, producerFenced = 90

    @Test(.timeLimit(.minutes(2)))
    func commitsAndAbortsThroughTheMocksCoordinatorDespiteRetriableErrors() async throws {
        let mock = try MockCluster(brokers: 3, controlled: true)
        try mock.control("topic mock-txn 4 3")
        try mock.control("topic mock-in 1 3")
        let producer = try mockProducer(mock, id: "mock-txn-id")
        try mock.control("errors \(Self.initProducerId) \(Self.coordinatorLoadInProgress) \(Self.concurrentTransactions)")
        try await producer.initTransactions()

        try producer.beginTransaction()
        try mock.control("errors \(Self.addPartitionsToTxn) \(Self.concurrentTransactions) \(Self.notCoordinator)")
        for index in 0..<40 { try await producer.enqueue(ProducerRecord(topic: "mock-txn", key: "k\(index)", value: "committed-\(index)")) }
        try mock.control("errors \(Self.addOffsetsToTxn) \(Self.coordinatorNotAvailable)")
        try mock.control("errors \(Self.txnOffsetCommit) \(Self.notCoordinator)")
        try await producer.sendOffsetsToTransaction([TopicPartition("mock-in", 0): 42], groupMetadata: ConsumerGroupMetadata(groupId: "mock-app"))
        try mock.control("errors \(Self.endTxn) \(Self.concurrentTransactions) \(Self.concurrentTransactions) \(Self.notCoordinator)")
        try await producer.commitTransaction()

        // The coordinator moves: the next transaction finds it again.
        try mock.control("coordinator transaction mock-txn-id 2")
        try producer.beginTransaction()
        for index in 0..<10 { try await producer.enqueue(ProducerRecord(topic: "mock-txn", key: "k\(index)", value: "aborted-\(index)")) }
        await producer.flush()
        try await producer.abortTransaction()
        try producer.beginTransaction()
        _ = try await producer.send(ProducerRecord(topic: "mock-txn", key: "last", value: "committed-last"))
        try await producer.commitTransaction()
        await producer.close()

        // Every record sent reached the mock's partitions, in transactional batches.
        let seen = try await readToEnd(try mock.clientConfig(), topic: "mock-txn", isolation: .readUncommitted)
        #expect(seen.count == 51)
        #expect(Set(seen.map(\.value)) == Set((0..<40).map { "committed-\($0)" } + (0..<10).map { "aborted-\($0)" } + ["committed-last"]))
    }

    @Test(.timeLimit(.minutes(2)))
    func producerFencedIsFatal() async throws {
        let mock = try MockCluster(brokers: 3, controlled: true)
        try mock.control("topic mock-fenced 2 3")
        let producer = try mockProducer(mock, id: "mock-fenced-id")
        try await producer.initTransactions()
        try producer.beginTransaction()
        try mock.control("errors \(Self.addPartitionsToTxn) \(Self.producerFenced)")
        do {
            _ = try await producer.send(ProducerRecord(topic: "mock-fenced", value: "never"))
            Issue.record("a record was delivered though its partition could not join the transaction")
        } catch let error as KafkaClientError {
            #expect(error.code == .producerFenced)
        }
        // Fatal: neither commit, abort nor a new transaction is possible any more.
        await #expect(throws: KafkaClientError.self) { try await producer.commitTransaction() }
        await #expect(throws: KafkaClientError.self) { try await producer.abortTransaction() }
        #expect(throws: KafkaClientError.self) { try producer.beginTransaction() }
        await producer.close()
    }
}

private func mockProducer(_ mock: MockCluster, id: String) throws -> KafkaProducer {
    var config = KafkaProducerConfig(client: try mock.clientConfig())
    config.transactionalId = id
    config.client.retryBackoff = .milliseconds(20)
    return try KafkaProducer(config: config)
}
