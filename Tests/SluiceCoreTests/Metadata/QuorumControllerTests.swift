import KafkaProtocol
import SluiceRaft
import Testing

@testable import SluiceCore

/// Three controllers on a simulated quorum (in memory, messages delivered by hand), with
/// brokers calling whichever is active, as a cluster's brokers do.
final class ControllerCluster {
    var now: Int64 = 0
    let voters: Set<Int32> = [1, 2, 3]
    var logs: [Int32: MemoryRaftLog] = [:]
    var stores: [Int32: MemoryQuorumStateStore] = [:]
    var controllers: [Int32: QuorumController] = [:]
    let sessionTimeoutMs: Int64
    let snapshotEvery: Int64

    init(sessionTimeoutMs: Int64 = 3_000, snapshotEvery: Int64 = 10_000) throws {
        self.sessionTimeoutMs = sessionTimeoutMs
        self.snapshotEvery = snapshotEvery
        for id in voters.sorted() {
            logs[id] = MemoryRaftLog()
            stores[id] = MemoryQuorumStateStore()
            try start(id)
        }
    }

    func start(_ id: Int32) throws {
        let raft = try RaftReplica(config: RaftConfig(nodeId: id, voters: voters), log: logs[id]!, store: stores[id]!,
                                   seed: UInt64(id) &+ UInt64(now), now: now)
        let controller = QuorumController(raft: raft, clusterId: "cluster-1", sessionTimeoutMs: sessionTimeoutMs)
        controller.snapshotEvery = snapshotEvery
        controllers[id] = controller
    }

    func crash(_ id: Int32) {
        controllers[id] = nil
        logs[id]!.crash()
    }

    var active: QuorumController? { controllers.values.first { $0.isActive } }

    /// Lets time pass in 10 ms steps, delivering every message at once.
    func run(for milliseconds: Int64) throws {
        let end = now + milliseconds
        while now < end {
            now += 10
            for id in controllers.keys.sorted() {
                try controllers[id]!.raft.tick(now: now)
                try controllers[id]!.poll(now: now)
            }
            try deliver()
        }
    }

    func deliver() throws {
        var rounds = 0
        while true {
            var pending: [(Int32, RaftOutbound)] = []
            for id in controllers.keys.sorted() {
                pending += controllers[id]!.raft.drainOutbound().map { (id, $0) }
            }
            if pending.isEmpty { return }
            rounds += 1
            precondition(rounds < 10_000, "messages never settle")
            for (from, outbound) in pending {
                guard let target = controllers[outbound.destination] else { continue }
                try target.raft.handle(outbound.message, from: from, now: now)
                try target.poll(now: now)
            }
        }
    }

    /// Sends a request to the active controller and waits (in virtual time) for its answer.
    func call(_ request: QuorumController.Request, within milliseconds: Int64 = 5_000) throws -> Result<QuorumController.Reply, ControllerError>? {
        var result: Result<QuorumController.Reply, ControllerError>?
        let deadline = now + milliseconds
        while result == nil, now < deadline {
            if let active {
                active.submit(request, now: now) { result = $0 }
                try deliver()
                while result == nil, now < deadline { try run(for: 10) }
            } else {
                try run(for: 10)
            }
            if case .failure(let error)? = result, error.code == .notController { result = nil }
        }
        return result
    }

    func register(_ id: Int32, incarnation: UInt64 = 1) throws -> Int64 {
        let registration = ClusterControl.Registration(
            brokerId: id, clusterId: "cluster-1", incarnationId: KafkaUUID(high: UInt64(id), low: incarnation),
            listeners: [ListenerEndpoint(name: "PLAINTEXT", host: "127.0.0.1", port: Int(9000 + id))], rack: nil)
        guard case .success(.registered(let epoch))? = try call(.registerBroker(registration)) else {
            throw ControllerError(.unknownServerError, "registration of \(id) failed")
        }
        return epoch
    }

    func heartbeat(_ id: Int32, epoch: Int64) throws -> Result<QuorumController.Reply, ControllerError>? {
        try call(.heartbeat(.init(brokerId: id, brokerEpoch: epoch, currentMetadataOffset: active?.appliedOffset ?? 0)))
    }

    /// Every running controller has applied the same committed records (within a few seconds:
    /// a controller that just restarted first has to learn who leads).
    func imagesAgree() throws -> Bool {
        var agree = false
        for _ in 0..<50 where !agree {
            try run(for: 100)
            let images = controllers.values.map(\.image)
            agree = images.allSatisfy { $0 == images[0] } && Set(controllers.values.map(\.appliedOffset)).count == 1
        }
        if !agree {
            for (id, c) in controllers.sorted(by: { $0.key < $1.key }) {
                print("controller \(id): applied \(c.appliedOffset) hw \(c.raft.highWatermark) role \(c.raft.role) epoch \(c.raft.epoch) "
                      + "brokers \(c.image.brokers.values.map { "\($0.id) fenced \($0.fenced) epoch \($0.epoch)" }) next pid \(c.image.nextProducerId)")
            }
        }
        return agree
    }
}

@Suite struct QuorumControllerTests {
    @Test func brokersRegisterAndAreUnfencedOnEveryController() throws {
        let cluster = try ControllerCluster()
        try cluster.run(for: 5_000)
        #expect(cluster.active != nil)
        var epochs: [Int32: Int64] = [:]
        for id: Int32 in [101, 102, 103] { epochs[id] = try cluster.register(id) }
        #expect(Set(epochs.values).count == 3)
        for id: Int32 in [101, 102, 103] {
            let reply = try cluster.heartbeat(id, epoch: epochs[id]!)
            #expect(reply == .success(.heartbeat(.init(isCaughtUp: true, isFenced: false, shouldShutDown: false))))
        }
        #expect(try cluster.imagesAgree())
        #expect(cluster.controllers[2]!.image.activeBrokers.map(\.id) == [101, 102, 103])
        // A broker id taken by a live process, and another cluster's broker, are refused.
        let duplicate = ClusterControl.Registration(brokerId: 101, clusterId: "cluster-1", incarnationId: KafkaUUID(high: 9, low: 9),
                                                    listeners: [], rack: nil)
        guard case .failure(let error)? = try cluster.call(.registerBroker(duplicate)) else {
            Issue.record("a second live broker 101 registered")
            return
        }
        #expect(error.code == .duplicateBrokerRegistration)
    }

    @Test func producerIdBlocksNeverOverlapAcrossControllerFailovers() throws {
        let cluster = try ControllerCluster()
        try cluster.run(for: 5_000)
        let epoch = try cluster.register(101)
        var blocks: [ClosedRange<Int64>] = []
        for round in 0..<6 {
            for _ in 0..<3 {
                guard case .success(.producerIds(let first, let count))? = try cluster.call(.allocateProducerIds(brokerId: 101, brokerEpoch: epoch)) else {
                    Issue.record("no producer ids in round \(round)")
                    continue
                }
                blocks.append(first...(first + count - 1))
            }
            // The active controller dies; another takes over; the old one comes back.
            let active = try #require(cluster.controllers.first { $0.value.isActive }?.key)
            cluster.crash(active)
            try cluster.run(for: 4_000)
            try cluster.start(active)
            // The broker's session outlives the failover only if it heartbeats.
            _ = try cluster.heartbeat(101, epoch: epoch)
        }
        let sorted = blocks.sorted { $0.lowerBound < $1.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(a.upperBound < b.lowerBound, "\(a) overlaps \(b)") }
        #expect(blocks.count == 18)
        #expect(try cluster.imagesAgree())
    }

    @Test func aSilentBrokerIsFencedAndItsPartitionsMoveOnEveryController() throws {
        let cluster = try ControllerCluster(sessionTimeoutMs: 3_000)
        try cluster.run(for: 5_000)
        var epochs: [Int32: Int64] = [:]
        for id: Int32 in [101, 102, 103] {
            epochs[id] = try cluster.register(id)
            _ = try cluster.heartbeat(id, epoch: epochs[id]!)
        }
        let topic = ReplicationControl.NewTopic(name: "orders", id: KafkaUUID(high: 5, low: 5), partitions: 6, replicationFactor: 3)
        #expect(try cluster.call(.createTopic(topic)) == .success(.topicCreated))
        let before = try #require(cluster.active?.image.topic(named: "orders"))
        #expect(Set(before.partitions.values.map(\.leader)) == [101, 102, 103])
        // 101 and 102 keep heartbeating; 103 goes quiet.
        for _ in 0..<10 {
            for id: Int32 in [101, 102] { _ = try cluster.heartbeat(id, epoch: epochs[id]!) }
            try cluster.run(for: 500)
        }
        #expect(try cluster.imagesAgree())
        for controller in cluster.controllers.values {
            #expect(controller.image.activeBrokers.map(\.id) == [101, 102])
            let partitions = try #require(controller.image.topic(named: "orders")).partitions.values
            #expect(partitions.allSatisfy { $0.leader != 103 && !$0.isr.contains(103) })
        }
        // Too many replicas for the live brokers.
        let wide = ReplicationControl.NewTopic(name: "wide", id: KafkaUUID(high: 6, low: 6), partitions: 1, replicationFactor: 3)
        guard case .failure(let error)? = try cluster.call(.createTopic(wide)) else {
            Issue.record("three replicas placed on two live brokers")
            return
        }
        #expect(error.code == .invalidReplicationFactor)
    }

    @Test func aControllerBehindTheLogStartCatchesUpFromASnapshot() throws {
        let cluster = try ControllerCluster(snapshotEvery: 20)
        try cluster.run(for: 5_000)
        let epoch = try cluster.register(101)
        let lagging = try #require(cluster.controllers.keys.sorted().first { cluster.controllers[$0]?.isActive == false })
        cluster.crash(lagging)
        for _ in 0..<30 { _ = try cluster.call(.allocateProducerIds(brokerId: 101, brokerEpoch: epoch)) }
        let active = try #require(cluster.active)
        #expect(active.raft.logStartOffset > 0, "the active controller never snapshotted")
        try cluster.start(lagging)
        try cluster.run(for: 3_000)
        #expect(cluster.controllers[lagging]!.image == active.image)
        #expect(cluster.controllers[lagging]!.image.nextProducerId == 30_000)
    }
}
