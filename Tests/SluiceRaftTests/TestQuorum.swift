@testable import SluiceRaft

/// A hand-driven quorum for unit tests: messages are delivered when the test says, and the
/// test decides which to drop. Logs and election stores survive `restart`.
final class TestQuorum {
    struct Node {
        var log: MemoryRaftLog
        var store: MemoryQuorumStateStore
        var replica: RaftReplica
    }

    var now: Int64 = 0
    var nodes: [Int32: Node] = [:]
    var pending: [(from: Int32, outbound: RaftOutbound)] = []
    let voters: Set<Int32>
    var configure: (inout RaftConfig) -> Void

    init(voters: Set<Int32>, observers: Set<Int32> = [], logs: [Int32: MemoryRaftLog] = [:],
         stores: [Int32: MemoryQuorumStateStore] = [:], configure: @escaping (inout RaftConfig) -> Void = { _ in }) throws {
        self.voters = voters
        self.configure = configure
        for id in voters.union(observers).sorted() {
            let log = logs[id] ?? MemoryRaftLog()
            let store = stores[id] ?? MemoryQuorumStateStore()
            nodes[id] = Node(log: log, store: store, replica: try makeReplica(id, log: log, store: store))
        }
    }

    private func makeReplica(_ id: Int32, log: MemoryRaftLog, store: MemoryQuorumStateStore) throws -> RaftReplica {
        var config = RaftConfig(nodeId: id, voters: voters)
        configure(&config)
        return try RaftReplica(config: config, log: log, store: store, seed: UInt64(id), now: now)
    }

    func replica(_ id: Int32) -> RaftReplica { nodes[id]!.replica }
    func log(_ id: Int32) -> MemoryRaftLog { nodes[id]!.log }
    func store(_ id: Int32) -> MemoryQuorumStateStore { nodes[id]!.store }

    /// A new process on the same disk (what was not flushed is lost).
    func restart(_ id: Int32) throws {
        guard let node = nodes[id] else { return }
        node.log.crash()
        nodes[id]?.replica = try makeReplica(id, log: node.log, store: node.store)
    }

    /// Moves the messages every replica has queued into `pending`.
    func collect() {
        for id in nodes.keys.sorted() {
            for outbound in nodes[id]!.replica.drainOutbound() { pending.append((id, outbound)) }
        }
    }

    /// Delivers until nothing is left, dropping what `drop` picks. Returns what was delivered.
    @discardableResult
    func deliverAll(drop: (Int32, Int32, RaftMessage) -> Bool = { _, _, _ in false }) throws -> [(Int32, Int32, RaftMessage)] {
        var delivered: [(Int32, Int32, RaftMessage)] = []
        collect()
        var rounds = 0
        while !pending.isEmpty {
            rounds += 1
            precondition(rounds < 100_000, "messages never settle")
            let (from, outbound) = pending.removeFirst()
            let to = outbound.destination
            if drop(from, to, outbound.message) { continue }
            guard let replica = nodes[to]?.replica else { continue }
            delivered.append((from, to, outbound.message))
            try replica.handle(outbound.message, from: from, now: now)
            collect()
        }
        return delivered
    }

    /// Lets time pass: every replica runs its due timers at each step.
    func advance(by milliseconds: Int64, step: Int64 = 10, drop: (Int32, Int32, RaftMessage) -> Bool = { _, _, _ in false }) throws {
        let end = now + milliseconds
        while now < end {
            now = min(end, now + step)
            for id in nodes.keys.sorted() { try nodes[id]!.replica.tick(now: now) }
            try deliverAll(drop: drop)
        }
    }

    /// Makes `id` stand now (its election timer alone runs out) and delivers the election.
    func elect(_ id: Int32) throws {
        now += 5_000
        try replica(id).tick(now: now)
        try deliverAll()
    }
}

func record(_ epoch: Int32, _ text: String) -> RaftRecord {
    RaftRecord(epoch: epoch, payload: Array(text.utf8))
}

func log(_ records: [RaftRecord]) -> MemoryRaftLog {
    let log = MemoryRaftLog()
    log.append(records)
    log.flush()
    return log
}

extension RaftMessage {
    var fetchResponse: FetchResponse? { if case .fetchResponse(let r) = self { return r } else { return nil } }
    var voteResponse: VoteResponse? { if case .voteResponse(let r) = self { return r } else { return nil } }
    var isFetch: Bool { if case .fetch = self { return true } else { return false } }
}
