import Glibc
import KafkaProtocol
import NIOCore
import SluiceClient
import Synchronization
import Testing

/// The client against a broker nobody here wrote: librdkafka's mock cluster (3 brokers), built
/// by `Tools/mockbroker.sh` (`make test` does). The mock has no admin APIs and auto-creates
/// topics with 4 partitions. Skipped, with the reason, when the mock was not built.
@Suite("Client against librdkafka's mock cluster", .enabled(if: MockCluster.binary != nil, "build it with Tools/mockbroker.sh"))
struct MockClusterTests {
    @Test(arguments: CompressionCodec.allCases)
    func producesAndConsumesWithEveryCodec(codec: CompressionCodec) async throws {
        let mock = try MockCluster(brokers: 3)
        let topic = "mock-\(codec)"
        var producerConfig = KafkaProducerConfig(client: try mock.clientConfig())
        producerConfig.compression = codec
        let producer = try KafkaProducer(config: producerConfig)
        var sent: [Int32: [String]] = [:]
        for index in 0..<400 {
            let record = ProducerRecord(topic: topic, key: "key-\(index % 13)", value: "\(codec) value \(index)",
                                        headers: [RecordHeader(key: "index", value: ByteBuffer(string: "\(index)"))])
            let metadata = try await producer.send(record)
            #expect(metadata.partition == Partitioner.partition(forKey: ByteBuffer(string: "key-\(index % 13)"), count: 4))
            sent[metadata.partition, default: []].append("\(codec) value \(index)")
        }
        await producer.close()

        var config = KafkaConsumerConfig(client: try mock.clientConfig())
        config.autoOffsetReset = .earliest
        let consumer = KafkaConsumer(config: config)
        try await consumer.assign(topic: topic)
        var got: [Int32: [String]] = [:]
        var iterator = consumer.records.makeAsyncIterator()
        for _ in 0..<400 {
            let record = try #require(await iterator.next())
            got[record.partition, default: []].append(String(buffer: record.value ?? ByteBuffer()))
            #expect(record.headers.count == 1)
        }
        #expect(got == sent, "every record once, in order per partition, through the mock's leaders")
        await consumer.close()

        let admin = KafkaAdmin(config: try mock.clientConfig())
        let ends = try await admin.listOffsets(topic: topic, spec: .latest)
        #expect(ends.values.reduce(0, +) == 400)
        #expect(try await admin.describeTopic(topic).partitions.count == 4)
        await admin.close()
    }

    @Test(.timeLimit(.minutes(2)))
    func threeSwiftMembersSplitAndRebalance() async throws {
        let mock = try MockCluster(brokers: 3)
        let producer = try KafkaProducer(config: KafkaProducerConfig(client: try mock.clientConfig()))
        _ = try await producer.send(ProducerRecord(topic: "mock-group", value: "creates the topic"))
        await producer.close()
        func member() throws -> KafkaConsumer {
            var config = KafkaConsumerConfig(client: try mock.clientConfig())
            config.groupId = "mock-workers"
            config.sessionTimeout = .seconds(6)
            config.heartbeatInterval = .milliseconds(300)
            config.rebalanceTimeout = .seconds(10)
            return KafkaConsumer(config: config)
        }
        let members = try (0..<3).map { _ in try member() }
        let latest = Assignments()
        // Each member's latest assignment, as its rebalance events report it.
        let watchers = members.enumerated().map { index, member in
            Task {
                for await event in member.events {
                    switch event {
                    case .assigned(let partitions): latest.state.withLock { $0[index] = partitions.sorted() }
                    case .revoked: latest.state.withLock { $0[index] = [] }
                    case .error: break
                    }
                }
            }
        }
        for member in members { try await member.subscribe(topics: ["mock-group"]) }
        #expect(await settles(latest, members: [0, 1, 2]), "assignments: \(latest.state.withLock { $0 })")

        await members[2].close()
        latest.state.withLock { $0[2] = nil }
        #expect(await settles(latest, members: [0, 1]), "after one left: \(latest.state.withLock { $0 })")
        for member in members.prefix(2) { await member.close() }
        for watcher in watchers { await watcher.value }
    }
}

/// Waits until `members` own a disjoint cover of the topic's 4 partitions.
private final class Assignments: Sendable {
    let state = Mutex<[Int: [TopicPartition]]>([:])
}

private func settles(_ latest: Assignments, members: [Int]) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(50)
    while ContinuousClock.now < deadline {
        let owned = latest.state.withLock { state in members.compactMap { state[$0] } }
        let all = owned.flatMap { $0 }
        if owned.count == members.count, owned.allSatisfy({ !$0.isEmpty }), all.count == 4, Set(all).count == 4 { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return false
}
