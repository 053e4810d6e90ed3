import Glibc
import SluiceClient
import Testing

/// A consumer that has nothing to do must not spin. A group member without partitions (two
/// members, one partition) used to take a whole core, and every member about 1.5 cores while
/// joining: the fetcher's idle wait cancelled an `AsyncStream` iterator on timeout, which ends
/// the stream, so every later wait returned at once.
///
/// The client and the broker run in this process, so the process's CPU time is measured while
/// the test sleeps. Other suites run in parallel in the same process and may be busy for a
/// while: a window is measured again until one is quiet (a spinning consumer never gives one).
@Suite("Idle CPU", .serialized)
struct IdleCPUTests {
    static let window: Duration = .seconds(3)
    static let limit = 0.10

    @Test(.timeLimit(.minutes(5)))
    func aMemberWithoutPartitionsStaysIdle() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "single", partitions: 1))
        let first = try member(broker, group: "idle")
        var firstEvents = first.events.makeAsyncIterator()
        try await first.subscribe(topics: ["single"])
        #expect(await nextAssignment(&firstEvents).count == 1)
        let second = try member(broker, group: "idle")
        try await second.subscribe(topics: ["single"])
        // Either member may get the partition (range orders members by id); the other gets none.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let group = try await admin.describeGroup("idle")
            if group.state == "Stable" && group.members.count == 2 && first.assignment.count + second.assignment.count == 1 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect([first.assignment.count, second.assignment.count].sorted() == [0, 1], "one partition, two members")

        let share = try await quietestCPUShare()
        #expect(share < Self.limit, "the process used \(Int(share * 100)) % of a core with one member idle and one without partitions")
        await second.close()
        await first.close()
        await admin.close()
    }

    /// A member waits in JoinGroup while the group rebalances: the other member only rejoins
    /// at its next heartbeat, far off here.
    @Test(.timeLimit(.minutes(5)))
    func aMemberWaitingInARebalanceStaysIdle() async throws {
        let broker = try BrokerFixture()
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "slow", partitions: 2))
        var slowConfig = KafkaConsumerConfig(client: try broker.clientConfig())
        slowConfig.groupId = "rebalancing"
        slowConfig.sessionTimeout = .seconds(900)
        slowConfig.heartbeatInterval = .seconds(600)
        let slow = KafkaConsumer(config: slowConfig)
        var slowEvents = slow.events.makeAsyncIterator()
        try await slow.subscribe(topics: ["slow"])
        #expect(await nextAssignment(&slowEvents).count == 2)
        let joining = try member(broker, group: "rebalancing")
        try await joining.subscribe(topics: ["slow"])
        // The join reached the coordinator once the group is rebalancing.
        let deadline = ContinuousClock.now + .seconds(30)
        while try await admin.describeGroup("rebalancing").state != "PreparingRebalance" && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }

        let share = try await quietestCPUShare()
        #expect(try await admin.describeGroup("rebalancing").state == "PreparingRebalance", "still waiting for the slow member")
        #expect(share < Self.limit, "the process used \(Int(share * 100)) % of a core while a member waited in a rebalance")
        await joining.close()
        await slow.close()
        await admin.close()
    }

    private func member(_ broker: BrokerFixture, group: String) throws -> KafkaConsumer {
        var config = KafkaConsumerConfig(client: try broker.clientConfig())
        config.groupId = group
        config.sessionTimeout = .seconds(10)
        config.heartbeatInterval = .seconds(1)
        return KafkaConsumer(config: config)
    }

    /// The smallest share of one core the process used over a window, measuring windows until
    /// one is below the limit or two and a half minutes have passed (in a full `swift test` the
    /// storage and crash suites keep this process busy for minutes).
    private func quietestCPUShare() async throws -> Double {
        let deadline = ContinuousClock.now + .seconds(150)
        var quietest = Double.infinity
        repeat {
            let cpuBefore = processCPUSeconds()
            let start = ContinuousClock.now
            try await Task.sleep(for: Self.window)
            let elapsed = ContinuousClock.now - start
            let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            quietest = min(quietest, (processCPUSeconds() - cpuBefore) / wall)
        } while quietest >= Self.limit && ContinuousClock.now < deadline
        return quietest
    }
}

/// User and system CPU time of the whole process, in seconds.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

private func nextAssignment(_ events: inout AsyncStream<ConsumerEvent>.AsyncIterator) async -> [TopicPartition] {
    while let event = await events.next() {
        if case .assigned(let partitions) = event { return partitions.sorted() }
    }
    return []
}
