import KafkaProtocol
import NIOCore
import SluiceClient
import Synchronization
import Testing

@Suite("Consumer groups from the Swift client")
struct GroupConsumerTests {
    @Test(.timeLimit(.minutes(2)))
    func twoMembersSplitATopicAndTheSurvivorTakesOver() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "jobs", partitions: 4))
        func member() throws -> KafkaConsumer {
            var config = KafkaConsumerConfig(client: try broker.clientConfig())
            config.groupId = "workers"
            config.autoOffsetReset = .earliest
            config.sessionTimeout = .seconds(10)
            config.heartbeatInterval = .milliseconds(200)
            return KafkaConsumer(config: config)
        }
        let first = try member()
        let second = try member()
        var firstEvents = first.events.makeAsyncIterator()
        var secondEvents = second.events.makeAsyncIterator()
        try await first.subscribe(topics: ["jobs"])
        #expect(await nextAssignment(&firstEvents) == (0..<4).map { TopicPartition("jobs", $0) })
        try await second.subscribe(topics: ["jobs"])
        let secondShare = await nextAssignment(&secondEvents)
        let firstShare = await nextAssignment(&firstEvents)
        #expect(Set(firstShare).isDisjoint(with: secondShare))
        #expect(Set(firstShare + secondShare) == Set((0..<4).map { TopicPartition("jobs", $0) }))
        #expect(firstShare.count == 2 && secondShare.count == 2, "range assignment splits 4 partitions 2/2")

        var producerConfig = KafkaProducerConfig(client: try broker.clientConfig())
        producerConfig.linger = .milliseconds(1)
        let producer = try KafkaProducer(config: producerConfig)
        for index in 0..<400 {
            try await producer.enqueue(ProducerRecord(topic: "jobs", partition: Int32(index % 4), value: "job-\(index)"))
        }
        await producer.flush()

        let firstRead = try await read(first, count: 200)
        let secondRead = try await read(second, count: 200)
        #expect(Set(firstRead.map(\.partition)).isSubset(of: Set(firstShare.map(\.partition))))
        #expect(Set(secondRead.map(\.partition)).isSubset(of: Set(secondShare.map(\.partition))))
        #expect(Set((firstRead + secondRead).map(\.value)).count == 400, "every record once across the group")

        // The second member leaves (committing what it read); the first takes everything over
        // and finds nothing left to read in the second's partitions.
        await second.close()
        #expect(await nextAssignment(&firstEvents).count == 4)
        for index in 400..<404 {
            try await producer.enqueue(ProducerRecord(topic: "jobs", partition: Int32(index % 4), value: "job-\(index)"))
        }
        await producer.close()
        let tail = try await read(first, count: 4)
        #expect(Set(tail.map(\.value)) == Set((400..<404).map { "job-\($0)" }), "no redelivery after the committed handover")
        await first.close()
        let description = try await admin.describeGroup("workers")
        #expect(description.state == "Empty")
        await admin.close()
    }
}

extension GroupConsumerTests {
    /// Cooperative-sticky with 1 → 2 → 3 members on 6 partitions: the first member gives up only
    /// what moves (3, then 1), keeps consuming the rest, and the group settles 2/2/2.
    @Test(.timeLimit(.minutes(2)))
    func cooperativeMembersGiveUpOnlyWhatMoves() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "coop", partitions: 6))
        func member() throws -> KafkaConsumer {
            var config = KafkaConsumerConfig(client: try broker.clientConfig())
            config.groupId = "coop-group"
            config.sessionTimeout = .seconds(10)
            config.heartbeatInterval = .milliseconds(200)
            config.assignmentStrategies = [.cooperativeSticky]
            return KafkaConsumer(config: config)
        }
        let members = try (0..<3).map { _ in try member() }
        let owned = Shared<[Int: Set<TopicPartition>]>([:])
        let revokedFromFirst = Shared<[TopicPartition]>([])
        var watchers: [Task<Void, Never>] = []
        for (index, consumer) in members.enumerated() {
            watchers.append(Task {
                for await event in consumer.events {
                    switch event {
                    case .assigned(let partitions): owned.withLock { $0[index, default: []].formUnion(partitions) }
                    case .revoked(let partitions):
                        owned.withLock { $0[index, default: []].subtract(partitions) }
                        if index == 0 { revokedFromFirst.withLock { $0 += partitions } }
                    case .error: break
                    }
                }
            })
        }
        func settled(_ shares: [Int]) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let loads = owned.withLock { state in (0..<shares.count).map { state[$0]?.count ?? 0 } }
                let union = owned.withLock { $0.values.reduce(into: Set<TopicPartition>()) { $0.formUnion($1) } }
                if loads == shares && union.count == 6 { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("group did not settle at \(shares): \(owned.withLock { $0 })")
        }
        try await members[0].subscribe(topics: ["coop"])
        try await settled([6])
        let initial = owned.withLock { $0[0] ?? [] }
        try await members[1].subscribe(topics: ["coop"])
        try await settled([3, 3])
        #expect(revokedFromFirst.withLock { $0.count } == 3, "the first member gave up exactly the three that moved")
        #expect(owned.withLock { $0[0] ?? [] }.isSubset(of: initial))
        try await members[2].subscribe(topics: ["coop"])
        try await settled([2, 2, 2])
        #expect(revokedFromFirst.withLock { $0.count } == 4, "one more moved away from the first member")
        let description = try await admin.describeGroup("coop-group")
        #expect(description.protocolName == "cooperative-sticky")
        for consumer in members { await consumer.close() }
        for watcher in watchers { await watcher.value }
        await admin.close()
    }
}

extension GroupConsumerTests {
    /// Static membership (KIP-345): a member with a `groupInstanceId` that closes and comes back
    /// within its session timeout gets the same partitions, and the other member is not rebalanced.
    @Test(.timeLimit(.minutes(2)))
    func aStaticMemberRestartsWithoutRebalancingTheOthers() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "static", partitions: 4))
        func member(instance: String?) throws -> KafkaConsumer {
            var config = KafkaConsumerConfig(client: try broker.clientConfig())
            config.groupId = "static-group"
            config.sessionTimeout = .seconds(30)
            config.heartbeatInterval = .milliseconds(200)
            config.groupInstanceId = instance
            return KafkaConsumer(config: config)
        }
        let dynamic = try member(instance: nil)
        let revokedFromDynamic = Shared(0)
        var dynamicEvents = dynamic.events.makeAsyncIterator()
        try await dynamic.subscribe(topics: ["static"])
        #expect(await nextAssignment(&dynamicEvents).count == 4)
        let first = try member(instance: "worker-1")
        var firstEvents = first.events.makeAsyncIterator()
        try await first.subscribe(topics: ["static"])
        let share = await nextAssignment(&firstEvents)
        #expect(share.count == 2)
        #expect(await nextAssignment(&dynamicEvents).count == 2)
        let watcher = Task {
            while let event = await dynamicEvents.next() {
                if case .revoked = event { revokedFromDynamic.withLock { $0 += 1 } }
            }
        }
        await first.close()
        let again = try member(instance: "worker-1")
        var againEvents = again.events.makeAsyncIterator()
        try await again.subscribe(topics: ["static"])
        #expect(await nextAssignment(&againEvents) == share, "the static member gets its partitions back")
        try await Task.sleep(for: .seconds(1))
        #expect(revokedFromDynamic.withLock { $0 } == 0, "the other member was not rebalanced")
        let description = try await admin.describeGroup("static-group")
        #expect(description.state == "Stable" && description.members.count == 2)
        await again.close()
        await dynamic.close()
        watcher.cancel()
        await admin.close()
    }
}

private func nextAssignment(_ events: inout AsyncStream<ConsumerEvent>.AsyncIterator) async -> [TopicPartition] {
    while let event = await events.next() {
        if case .assigned(let partitions) = event { return partitions.sorted() }
    }
    return []
}

private struct Read: Sendable {
    let partition: Int32
    let value: String
}

private func read(_ consumer: KafkaConsumer, count: Int) async throws -> [Read] {
    var out: [Read] = []
    for await record in consumer.records {
        out.append(Read(partition: record.partition, value: String(buffer: record.value ?? ByteBuffer())))
        if out.count == count { break }
    }
    return out
}

/// A lock-protected value that closures and tasks can share.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}
