import KafkaProtocol
import NIOCore
import Testing

@testable import SluiceCore

/// Seeded simulations of consumers churning through a group (joins, leaves, crashes, static
/// restarts, MEMBER_ID_REQUIRED) against the coordinator on a manual clock. Every failure is
/// reproducible from its seed. Invariants, from Kafka's contract with its clients:
/// - no partition is handed to two owners within one generation;
/// - generations only grow;
/// - a live member that follows the protocol is never told UNKNOWN_MEMBER_ID;
/// - once churn stops, the group settles in one generation covering every partition.
@Suite("Group simulation")
struct GroupSimulationTests {
    @Test(arguments: 0..<24)
    func churnKeepsOwnershipExclusive(seed: UInt64) throws {
        // Odd seeds complete group-log writes a step later, as the broker's disk does.
        var simulation = try GroupSimulation(seed: seed, consumers: 5, partitions: 6, slowStore: seed % 2 == 1)
        simulation.run(steps: 1_200, churn: true)
        simulation.run(steps: 600, churn: false)
        #expect(simulation.violations.isEmpty, "seed \(seed): \(simulation.violations.prefix(5))")
        let settled = simulation.settledAssignment()
        #expect(settled != nil, "seed \(seed): the group did not settle once churn stopped (\(simulation.summary()))")
        if let settled {
            #expect(settled.sorted() == Array(0..<6), "seed \(seed): final assignment \(settled.sorted())")
        }
    }
}

/// SplitMix64: small, seedable, good enough for choosing actions.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A consumer as a client library runs one: eager (revoke everything on rebalance), rejoining
/// at once on REBALANCE_IN_PROGRESS, heartbeating every second, range-assigning when leader.
final class SimulatedConsumer {
    enum Phase { case outside, joining, syncing, stable, crashed }
    enum Event {
        case joined(JoinGroupResult)
        case synced(SyncGroupResult)
    }

    let name: String
    let instanceId: String?
    let usesJoinGroupV4: Bool
    var phase: Phase = .outside
    var memberId = ""
    var generation: Int32 = -1
    var assignment: [Int32] = []
    var inbox: [Event] = []
    var nextHeartbeatMs: Int64 = 0
    var restartAtMs: Int64 = 0

    init(name: String, instanceId: String?, usesJoinGroupV4: Bool) {
        self.name = name
        self.instanceId = instanceId
        self.usesJoinGroupV4 = usesJoinGroupV4
    }

    /// Who owns a partition: a static member's incarnations are one owner (the old one is fenced).
    var owner: String { instanceId ?? memberId }
}

struct GroupSimulation {
    let harness: CoordinatorHarness
    var random: SeededGenerator
    let consumers: [SimulatedConsumer]
    let partitions: Int32
    /// generation → partition → owner
    var owners: [Int32: [Int32: String]] = [:]
    var highestGeneration: Int32 = 0
    var violations: [String] = []
    var lastSettledGeneration: Int32 = -1

    init(seed: UInt64, consumers count: Int, partitions: Int32, slowStore: Bool = false) throws {
        harness = try CoordinatorHarness()
        harness.store.holdCompletions = slowStore
        random = SeededGenerator(seed: seed)
        self.partitions = partitions
        var made: [SimulatedConsumer] = []
        var generator = SeededGenerator(seed: seed ^ 0xABCD)
        for index in 0..<count {
            made.append(SimulatedConsumer(name: "c\(index)", instanceId: Bool.random(using: &generator) ? "static-\(index)" : nil,
                                          usesJoinGroupV4: Bool.random(using: &generator)))
        }
        self.consumers = made
    }

    var now: Int64 { harness.clock.value }

    mutating func run(steps: Int, churn: Bool) {
        for _ in 0..<steps {
            harness.advance(by: 100)
            harness.store.completeAll(with: .success(()))
            for consumer in consumers {
                handleInbox(consumer)
                act(consumer, churn: churn)
            }
            // Every deadline of every group must be queued on a timer, or it would never fire.
            let unscheduled = harness.coordinator.groupsWithUnscheduledDeadlines()
            if !unscheduled.isEmpty { violations.append("at \(now): deadlines of \(unscheduled) not queued") }
        }
    }

    private mutating func act(_ consumer: SimulatedConsumer, churn: Bool) {
        switch consumer.phase {
        case .crashed:
            if now >= consumer.restartAtMs {
                // A restarted process: dynamic members lose their id, static ones keep the instance id.
                consumer.memberId = ""
                consumer.phase = .outside
            }
        case .outside:
            if !churn || Int.random(in: 0..<20, using: &random) == 0 { join(consumer) }
        case .stable:
            if churn && Int.random(in: 0..<400, using: &random) == 0 {
                leave(consumer)
            } else if churn && Int.random(in: 0..<400, using: &random) == 0 {
                // kill -9: no LeaveGroup, no heartbeats; back after 2–15 s.
                consumer.phase = .crashed
                consumer.assignment = []
                consumer.restartAtMs = now + Int64.random(in: 2_000...15_000, using: &random)
            } else if now >= consumer.nextHeartbeatMs {
                heartbeat(consumer)
            }
        case .joining, .syncing:
            break
        }
    }

    private mutating func join(_ consumer: SimulatedConsumer) {
        consumer.phase = .joining
        consumer.assignment = []
        let box = harness.join("g", memberId: consumer.memberId, instanceId: consumer.instanceId,
                               requireKnownMemberId: consumer.usesJoinGroupV4)
        if let result = box.value {
            consumer.inbox.append(.joined(result))
        } else {
            // Still waiting: collect the answer when it comes.
            pending.append((consumer, box))
        }
    }

    private var pending: [(SimulatedConsumer, ResultBox<JoinGroupResult>)] = []
    private var pendingSyncs: [(SimulatedConsumer, ResultBox<SyncGroupResult>)] = []

    private mutating func collect(_ consumer: SimulatedConsumer) {
        pending.removeAll { entry in
            guard entry.0 === consumer, let value = entry.1.value else { return false }
            consumer.inbox.append(.joined(value))
            return true
        }
        pendingSyncs.removeAll { entry in
            guard entry.0 === consumer, let value = entry.1.value else { return false }
            consumer.inbox.append(.synced(value))
            return true
        }
    }

    private mutating func handleInbox(_ consumer: SimulatedConsumer) {
        collect(consumer)
        let events = consumer.inbox
        consumer.inbox.removeAll()
        for event in events where consumer.phase != .crashed {
            switch event {
            case .joined(let result):
                handleJoin(consumer, result)
            case .synced(let result):
                handleSync(consumer, result)
            }
        }
    }

    private mutating func handleJoin(_ consumer: SimulatedConsumer, _ result: JoinGroupResult) {
        switch result.error {
        case .memberIdRequired:
            consumer.memberId = result.memberId
            join(consumer)
        case .none:
            if result.generationId < highestGeneration - 1 {
                violations.append("\(consumer.name) joined generation \(result.generationId) after \(highestGeneration)")
            }
            highestGeneration = max(highestGeneration, result.generationId)
            consumer.memberId = result.memberId
            consumer.generation = result.generationId
            consumer.phase = .syncing
            var assignments: [String: ByteBuffer] = [:]
            if result.leaderId == result.memberId {
                // Range assignment over the members the leader was given.
                let members = result.members.map(\.memberId)
                for (index, member) in members.enumerated() {
                    let mine = (0..<partitions).filter { Int($0) % members.count == index }
                    assignments[member] = ByteBuffer(bytes: mine.map { UInt8($0) })
                }
            }
            let box = harness.sync("g", generation: result.generationId, memberId: result.memberId, instanceId: consumer.instanceId,
                                   assignments: assignments)
            if let value = box.value { consumer.inbox.append(.synced(value)) } else { pendingSyncs.append((consumer, box)) }
        case .unknownMemberId:
            unexpected(consumer, "JoinGroup")
            consumer.memberId = ""
            join(consumer)
        case .fencedInstanceId:
            consumer.phase = .outside
        default:
            join(consumer)
        }
    }

    private mutating func handleSync(_ consumer: SimulatedConsumer, _ result: SyncGroupResult) {
        switch result.error {
        case .none:
            consumer.phase = .stable
            consumer.assignment = result.assignment.getBytes(at: result.assignment.readerIndex, length: result.assignment.readableBytes)?
                .map { Int32($0) } ?? []
            consumer.nextHeartbeatMs = now + 1000
            record(consumer)
        default:
            recover(consumer, from: result.error, in: "SyncGroup")
        }
    }

    /// What a client does with an error from SyncGroup or Heartbeat: rejoin, with a fresh
    /// member id after UNKNOWN_MEMBER_ID; stop after FENCED_INSTANCE_ID.
    private mutating func recover(_ consumer: SimulatedConsumer, from error: KafkaErrorCode, in call: String) {
        switch error {
        case .unknownMemberId:
            unexpected(consumer, call)
            consumer.memberId = ""
            join(consumer)
        case .fencedInstanceId:
            consumer.phase = .outside
        default:
            join(consumer)
        }
    }

    private mutating func heartbeat(_ consumer: SimulatedConsumer) {
        consumer.nextHeartbeatMs = now + 1000
        let error = harness.coordinator.heartbeat(groupId: "g", generationId: consumer.generation, memberId: consumer.memberId,
                                                  groupInstanceId: consumer.instanceId)
        if error != .none { recover(consumer, from: error, in: "Heartbeat") }
    }

    private mutating func leave(_ consumer: SimulatedConsumer) {
        _ = harness.coordinator.leaveGroup(groupId: "g", members: [LeavingMember(memberId: consumer.memberId, groupInstanceId: consumer.instanceId)])
        consumer.phase = .outside
        consumer.assignment = []
        consumer.memberId = ""
    }

    private mutating func unexpected(_ consumer: SimulatedConsumer, _ call: String) {
        violations.append("\(consumer.name) (live, following the protocol) got UNKNOWN_MEMBER_ID from \(call) at \(now)")
    }

    private mutating func record(_ consumer: SimulatedConsumer) {
        var table = owners[consumer.generation] ?? [:]
        for partition in consumer.assignment {
            if let previous = table[partition], previous != consumer.owner {
                violations.append("generation \(consumer.generation): partition \(partition) owned by \(previous) and \(consumer.owner)")
            }
            table[partition] = consumer.owner
        }
        owners[consumer.generation] = table
    }

    /// The partitions the stable members own, when all of them are in one generation.
    func settledAssignment() -> [Int32]? {
        let stable = consumers.filter { $0.phase == .stable }
        guard !stable.isEmpty, stable.count == consumers.count, Set(stable.map(\.generation)).count == 1 else { return nil }
        return stable.flatMap(\.assignment)
    }

    func summary() -> String {
        consumers.map { "\($0.name):\($0.phase)@\($0.generation)\($0.assignment)" }.joined(separator: " ")
    }
}
