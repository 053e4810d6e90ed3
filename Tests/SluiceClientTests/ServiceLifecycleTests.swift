import Logging
import NIOCore
import ServiceLifecycle
import SluiceClient
import Testing

@Suite("Clients as ServiceLifecycle services")
struct ServiceLifecycleTests {
    @Test(.timeLimit(.minutes(1)))
    func gracefulShutdownFlushesTheProducerAndTheConsumerLeavesItsGroup() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "lifecycle", partitions: 2))
        var producerConfig = KafkaProducerConfig(client: try broker.clientConfig())
        producerConfig.linger = .seconds(10)  // only the shutdown flush sends them
        let producer = try KafkaProducer(config: producerConfig)
        var consumerConfig = KafkaConsumerConfig(client: try broker.clientConfig())
        consumerConfig.groupId = "lifecycle-group"
        consumerConfig.heartbeatInterval = .milliseconds(200)
        consumerConfig.sessionTimeout = .seconds(10)
        let consumer = KafkaConsumer(config: consumerConfig)
        try await consumer.subscribe(topics: ["lifecycle"])
        var events = consumer.events.makeAsyncIterator()
        while let event = await events.next() {
            if case .assigned = event { break }
        }

        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = ServiceGroup(services: [producer, consumer], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for index in 0..<1_000 {
                try await producer.enqueue(ProducerRecord(topic: "lifecycle", value: "record \(index)"))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let ends = try await admin.listOffsets(topic: "lifecycle", spec: .latest)
        #expect(ends.values.reduce(0, +) == 1_000, "the producer flushed everything queued before it stopped")
        #expect(try await admin.describeGroup("lifecycle-group").state == "Empty", "the consumer left its group")
        await admin.close()
    }
}
