@testable import SluiceRaft

/// A deterministic run of a simulated quorum: seeded faults (crash and restart with the
/// unflushed tail lost, paused processes, cut links one way or both, lost, duplicated, delayed
/// and reordered messages), a client appending through whoever leads, and after every event the
/// invariants of Kafka's RaftEventSimulationTest:
/// - one leader per epoch;
/// - a node's epoch never goes back, across restarts too;
/// - a node's high watermark never goes back while it runs;
/// - committed data is the same on every node (each applied record is checked against one
///   history of the cluster);
/// - a majority of voters holds every committed record durably.
/// Then the faults heal and the quorum must commit again on every node (liveness).
final class RaftSimulation {
    enum Event {
        case deliver(from: Int32, to: Int32, RaftMessage)
        case tick(Int32)
        case fault
        case restart(Int32)
        case resume(Int32)
        case heal(Set<Link>)
        case clientAppend
        case healAll
    }

    struct Link: Hashable {
        var from: Int32
        var to: Int32
    }

    struct Statistics {
        var events = 0
        var messages = 0
        var dropped = 0
        var crashes = 0
        var pauses = 0
        var cuts = 0
        var epochs: Int32 = 0
        var committed = 0
        var snapshotsTaken = 0
        var snapshotsLoaded = 0
        var appendsRefused = 0
    }

    let seed: UInt64
    let options: SimulationOptions
    private var random: SplitMix64
    private(set) var now: Int64 = 0
    private var queue = EventQueue<Event>()
    private(set) var nodes: [Int32: SimulatedNode] = [:]
    private var cut: Set<Link> = []
    private var healed = false
    private(set) var violations: [String] = []
    private(set) var statistics = Statistics()
    /// Prints every node's role each virtual second (SLUICE_SIM_TRACE=1, with one seed).
    var trace = false
    /// Prints every message delivered in this window of virtual time.
    var traceMessages: ClosedRange<Int64>?
    private var nextTraceAt: Int64 = 0

    /// The cluster's committed history: the record at each offset, as the first node to apply it
    /// saw it. Every other application must agree.
    private var history: [RaftRecord] = []
    private var leaders: [Int32: Int32] = [:]
    private var nextValue: UInt64 = 1
    private var finalMarker: [UInt8]?

    init(seed: UInt64, flaw: SimulationOptions.Flaw? = nil) {
        self.seed = seed
        var random = SplitMix64(seed: seed)
        var options = SimulationOptions.drawn(from: &random)
        options.flaw = flaw
        if flaw != nil {
            // Crashes are what expose both flaws.
            options.crashes = true
            options.faultEveryMs = 300
        }
        self.options = options
        self.random = random
        let voterIds = Set((1...Int32(self.options.voters)))
        for id in 1...Int32(self.options.voters + self.options.observers) {
            var config = self.options.config
            config.nodeId = id
            config.voters = voterIds
            let node = SimulatedNode(id: id, config: config)
            node.store.forgetsVotes = self.options.flaw == .forgetfulVotes
            nodes[id] = node
        }
    }

    var sortedIds: [Int32] { nodes.keys.sorted() }
    var voterIds: [Int32] { sortedIds.filter { $0 <= Int32(options.voters) } }
    var majority: Int { options.voters / 2 + 1 }

    /// Runs the scenario; returns the violations found (empty when the run is clean).
    @discardableResult
    func run() -> [String] {
        for id in sortedIds { start(id) }
        queue.schedule(.fault, at: Int64.random(in: 0...options.faultEveryMs, using: &random))
        queue.schedule(.clientAppend, at: options.appendEveryMs)
        queue.schedule(.healAll, at: options.faultyMs)
        let end = options.faultyMs + options.healedMs
        while violations.isEmpty, let (time, event) = queue.pop(), time <= end {
            now = time
            statistics.events += 1
            process(event)
            checkMajorityHoldsCommitted()
            if trace, now >= nextTraceAt {
                nextTraceAt = now + 1_000
                print("t=\(now) " + sortedIds.map { id in
                    guard let node = nodes[id], let r = node.replica else { return "\(id):down" }
                    let paused = (node.pausedUntil ?? 0) > now ? " paused" : ""
                    return "\(id):\(r.role)@\(r.epoch) hw \(r.highWatermark) end \(node.log.end)\(paused)"
                }.joined(separator: " | ") + " cut \(cut.count)")
            }
        }
        if violations.isEmpty { checkLiveness() }
        statistics.committed = history.count
        return violations
    }

    // MARK: Events

    private func process(_ event: Event) {
        switch event {
        case .deliver(let from, let to, let message):
            guard let node = nodes[to], node.isRunning, !cut.contains(Link(from: from, to: to)) else {
                statistics.dropped += 1
                return
            }
            if let until = node.pausedUntil, until > now {
                queue.schedule(event, at: until)
                return
            }
            if trace, let window = traceMessages, window.contains(now) { print("  t=\(now) \(from)→\(to) \(message)") }
            guarded(node) { try $0.handle(message, from: from, now: now) }

        case .tick(let id):
            guard let node = nodes[id], node.isRunning, node.scheduledTick == now else { return }
            node.scheduledTick = nil
            if let until = node.pausedUntil, until > now {
                scheduleTick(node, at: until)
                return
            }
            guarded(node) { try $0.tick(now: now) }

        case .fault:
            guard !healed else { return }
            injectFault()
            queue.schedule(.fault, at: now + Int64.random(in: 1...(2 * options.faultEveryMs), using: &random))

        case .restart(let id):
            if let node = nodes[id], !node.isRunning { start(id) }

        case .resume(let id):
            nodes[id]?.pausedUntil = nil

        case .heal(let links):
            cut.subtract(links)

        case .healAll:
            healed = true
            cut = []
            for id in sortedIds {
                guard let node = nodes[id] else { continue }
                node.pausedUntil = nil
                if !node.isRunning { start(id) }
            }
            // A last record, appended once the quorum has settled: liveness asks that every
            // node applies it before the run ends.
            var marker = Array("final".utf8)
            marker += withUnsafeBytes(of: seed.bigEndian, Array.init)
            finalMarker = marker

        case .clientAppend:
            clientAppend()
            queue.schedule(.clientAppend, at: now + Int64.random(in: 1...(2 * options.appendEveryMs), using: &random))
        }
    }

    private func isFetchTraffic(_ message: RaftMessage) -> Bool {
        switch message {
        case .fetch, .fetchResponse, .fetchSnapshot, .fetchSnapshotResponse: return true
        default: return false
        }
    }

    private func start(_ id: Int32) {
        guard let node = nodes[id] else { return }
        do {
            try node.start(now: now, seed: random.next())
        } catch {
            violations.append("node \(id) failed to start: \(error)")
            return
        }
        afterEvent(on: node)
    }

    /// Runs one call on a node's replica, then everything that follows from it.
    private func guarded(_ node: SimulatedNode, _ body: (RaftReplica) throws -> Void) {
        guard let replica = node.replica else { return }
        do {
            try body(replica)
        } catch {
            violations.append("t=\(now) node \(node.id): \(error)")
            return
        }
        afterEvent(on: node)
    }

    private func afterEvent(on node: SimulatedNode) {
        guard let replica = node.replica else { return }
        for outbound in replica.drainOutbound() { transmit(from: node.id, outbound) }
        checkNode(node, replica)
        apply(node, replica)
        let deadline = max(replica.nextDeadline, now + 1)
        if node.scheduledTick.map({ deadline < $0 }) ?? true { scheduleTick(node, at: deadline) }
    }

    private func scheduleTick(_ node: SimulatedNode, at time: Int64) {
        node.scheduledTick = time
        queue.schedule(.tick(node.id), at: time)
    }

    private func transmit(from source: Int32, _ outbound: RaftOutbound) {
        statistics.messages += 1
        if !healed, Double.random(in: 0..<1, using: &random) < options.dropRate {
            statistics.dropped += 1
            return
        }
        let copies = !healed && Double.random(in: 0..<1, using: &random) < options.duplicateRate ? 2 : 1
        for _ in 0..<copies {
            var delay = Int64.random(in: 1...options.maxDelayMs, using: &random)
            if !healed, Double.random(in: 0..<1, using: &random) < options.lateRate {
                delay += Int64.random(in: 500...3_000, using: &random)
            }
            if cut.contains(Link(from: source, to: outbound.destination)) {
                statistics.dropped += 1
                continue
            }
            queue.schedule(.deliver(from: source, to: outbound.destination, outbound.message), at: now + delay)
        }
    }

    private func injectFault() {
        var kinds: [Int] = []
        if options.crashes { kinds.append(0) }
        if options.partitions { kinds.append(1) }
        if options.pauses { kinds.append(2) }
        guard let kind = kinds.randomElement(using: &random), let victim = sortedIds.randomElement(using: &random),
              let node = nodes[victim] else { return }
        switch kind {
        case 0:
            guard node.isRunning else { return }
            node.crash(lostFlushed: options.flaw == .lyingDisk ? Int.random(in: 1...20, using: &random) : 0)
            statistics.crashes += 1
            queue.schedule(.restart(victim), at: now + Int64.random(in: 50...5_000, using: &random))
        case 1:
            // Cut a random group off from the rest, both ways or one way, for a while.
            let group = Set(sortedIds.filter { _ in Bool.random(using: &random) })
            let oneWay = Int.random(in: 0..<4, using: &random) == 0
            var links: Set<Link> = []
            for a in group { for b in sortedIds where !group.contains(b) {
                links.insert(Link(from: a, to: b))
                if !oneWay { links.insert(Link(from: b, to: a)) }
            } }
            guard !links.isEmpty else { return }
            cut.formUnion(links)
            statistics.cuts += 1
            queue.schedule(.heal(links), at: now + Int64.random(in: 200...6_000, using: &random))
        default:
            guard node.isRunning, node.pausedUntil == nil else { return }
            let until = now + Int64.random(in: 100...4_000, using: &random)
            node.pausedUntil = until
            statistics.pauses += 1
            queue.schedule(.resume(victim), at: until)
        }
    }

    private func clientAppend() {
        let candidates = sortedIds.compactMap { nodes[$0] }.filter { node in
            node.replica?.isLeader == true && (node.pausedUntil.map { $0 <= now } ?? true)
        }
        guard let node = candidates.randomElement(using: &random) else { return }
        // A bounded queue, as the controller's: no new records while a large backlog is
        // uncommitted, so a slow quorum is not buried under appends it cannot replicate.
        if node.log.end.offset - (node.replica?.highWatermark ?? 0) > 100 {
            statistics.appendsRefused += 1
            return
        }
        var payloads: [[UInt8]] = []
        if healed, let marker = finalMarker, now >= options.faultyMs + 5_000 {
            payloads.append(marker)
            finalMarker = nil; if trace { print("final marker appended at \(now) on \(node.id)") }
        } else {
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                payloads.append(withUnsafeBytes(of: nextValue.bigEndian, Array.init))
                nextValue += 1
            }
        }
        guard let replica = node.replica else { return }
        do {
            try replica.append(payloads, now: now)
        } catch {
            statistics.appendsRefused += 1
            if payloads.first?.starts(with: Array("final".utf8)) == true { finalMarker = payloads[0] }
            return
        }
        afterEvent(on: node)
    }

    // MARK: Invariants

    private func violation(_ text: String) {
        violations.append("t=\(now): \(text)")
    }

    private func checkNode(_ node: SimulatedNode, _ replica: RaftReplica) {
        if replica.epoch < node.highestEpochSeen {
            violation("node \(node.id)'s epoch went back from \(node.highestEpochSeen) to \(replica.epoch)")
        }
        node.highestEpochSeen = max(node.highestEpochSeen, replica.epoch)
        statistics.epochs = max(statistics.epochs, replica.epoch)
        if replica.isLeader {
            if let other = leaders[replica.epoch], other != node.id {
                violation("two leaders in epoch \(replica.epoch): \(other) and \(node.id)")
            }
            leaders[replica.epoch] = node.id
        }
        if replica.highWatermark < node.highWatermarkSeen {
            violation("node \(node.id)'s high watermark went back from \(node.highWatermarkSeen) to \(replica.highWatermark)")
        }
        node.highWatermarkSeen = replica.highWatermark
    }

    /// Applies what the node has committed to its state machine, checking each record against
    /// the cluster's history; takes a snapshot now and then.
    private func apply(_ node: SimulatedNode, _ replica: RaftReplica) {
        while let read = replica.readCommitted(from: Int64(node.applied.count)) {
            switch read {
            case .snapshot(let snapshot):
                guard let records = HistorySnapshot.decode(snapshot.data), Int64(records.count) == snapshot.id.offset else {
                    return violation("node \(node.id) loaded a snapshot \(snapshot.id) that does not hold its records")
                }
                for (offset, loaded) in records.enumerated() { record(offset: offset, loaded, on: node) }
                node.applied = records
                statistics.snapshotsLoaded += 1
            case .records(let base, let records):
                guard base == Int64(node.applied.count) else { return violation("node \(node.id) read from \(base)") }
                for record in records {
                    self.record(offset: node.applied.count, record, on: node)
                    node.applied.append(record)
                }
            }
            if !violations.isEmpty { return }
        }
        let applied = Int64(node.applied.count)
        if applied - node.log.startOffset >= Int64(options.snapshotEvery) {
            do {
                try replica.createSnapshot(endOffset: applied, data: HistorySnapshot.encode(node.applied[...]))
                statistics.snapshotsTaken += 1
            } catch {
                violation("node \(node.id) could not snapshot at \(applied): \(error)")
            }
        }
    }

    private func record(offset: Int, _ record: RaftRecord, on node: SimulatedNode) {
        if offset < history.count {
            if history[offset] != record {
                violation("offset \(offset) committed as \(history[offset]) elsewhere but \(record) on node \(node.id)")
            }
        } else if offset == history.count {
            history.append(record)
        } else {
            violation("node \(node.id) applied offset \(offset) past the history's end \(history.count)")
        }
    }

    /// Every committed record is durable on a majority of voters (in its log or a snapshot).
    private func checkMajorityHoldsCommitted() {
        guard let last = history.last else { return }
        let offset = Int64(history.count - 1)
        let holders = voterIds.filter { id in
            guard let log = nodes[id]?.log else { return false }
            if log.startOffset > offset { return true }
            return log.durableRecord(at: offset) == last
        }
        if holders.count < majority {
            violation("committed offset \(offset) is durable on \(holders) only, not a majority of \(options.voters)")
        }
    }

    /// After the faults heal: one leader that every node follows, and the final record applied
    /// everywhere.
    private func checkLiveness() {
        guard finalMarker == nil else { return violation("no leader took the final record in \(options.healedMs - 5_000) ms after healing") }
        let marker = Array("final".utf8) + withUnsafeBytes(of: seed.bigEndian, Array.init)
        for id in sortedIds {
            guard let node = nodes[id], let replica = node.replica else { continue }
            if !node.applied.contains(where: { $0.payload == marker }) {
                violation("node \(id) (\(replica.role), epoch \(replica.epoch), high watermark \(replica.highWatermark)) "
                              + "did not apply the final record after healing")
            }
        }
    }
}
