import Glibc
import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import SluiceCore
import SluiceRaft
import SluiceStorage
import Synchronization

/// What the rest of the broker may read of the quorum at any time, from any thread.
public struct QuorumStatus: Sendable {
    public var leaderId: Int32?
    public var epoch: Int32 = 0
    public var highWatermark: Int64 = 0
    public var role: RaftRole = .unattached
    /// The offset of the next metadata record to apply: what this node's image reflects.
    public var appliedOffset: Int64 = 0
    public var image = MetadataImage()
    /// The leader's view of every replica (DescribeQuorum), when this node leads.
    public var replicas: [ReplicaProgressReport] = []
}

/// The node's part in the metadata quorum: the Raft replica and the controller on one thread of
/// their own (metadata writes fsync, and must not stall client connections), with the timers,
/// the sockets and the disk the sans-IO core leaves to its host. Every call into the core runs
/// on `loop`; after each one `afterEvent` applies what committed, sends what the core wants
/// sent, publishes the image and sets the next timer.
public final class QuorumHost: @unchecked Sendable {
    // @unchecked: everything mutable is confined to `loop` (asserted), but `status`, which is locked.
    public let loop: any EventLoop
    public let nodeId: Int32
    public let clusterId: String
    let voters: [QuorumVoter]
    private let group: MultiThreadedEventLoopGroup
    private let raft: RaftReplica
    private let controller: QuorumController
    private let channels: NodeChannels
    private let logger: Logger
    private let statusLock = Mutex(QuorumStatus())
    /// Inbound requests handed to the core, by the request id made up for them, waiting for the
    /// core's answer (a parked Fetch waits up to its MaxWaitMs).
    private var inbound: [UInt64: EventLoopPromise<RaftMessage>] = [:]
    private var nextInboundId: UInt64 = 1
    private var timer: Scheduled<Void>?
    private var timerDeadline: Int64 = .max
    private var publishedOffset: Int64 = -1
    private var caughtUp = false
    private var imageListeners: [@Sendable (MetadataImage, Int64) -> Void] = []
    private var stopped = false
    /// Whether work may still be handed to `loop` (set false, under the lock, before it stops).
    private let accepting = Mutex(true)

    /// Runs `work` on the loop, or fails `promise` when the host is shutting down.
    private func onLoop<T>(_ promise: EventLoopPromise<T>, _ work: @escaping @Sendable () -> Void) {
        let handed = accepting.withLock { accepting -> Bool in
            guard accepting else { return false }
            loop.execute(work)
            return true
        }
        if !handed { promise.fail(ChannelError.ioOnClosedChannel) }
    }

    public var status: QuorumStatus { statusLock.withLock { $0 } }

    /// Opens `__cluster_metadata-0` in the data directory and starts the replica.
    public init(dataDirectory: String, clusterId: String, settings: ClusterSettings, sessionTimeoutMs: Int64,
                uncleanLeaderElection: Bool = false, rebalance: QuorumController.LeaderRebalance = .init(),
                logger: Logger) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        loop = group.next()
        nodeId = settings.nodeId
        self.clusterId = clusterId
        voters = settings.voters
        var logger = logger
        logger[metadataKey: "quorum"] = "node \(settings.nodeId)"
        self.logger = logger
        let directory = dataDirectory + "/__cluster_metadata-0"
        let voterIds = Set(settings.voters.map(\.id))
        var config = RaftConfig(nodeId: settings.nodeId, voters: voterIds)
        config.electionTimeoutMs = 1000
        config.fetchTimeoutMs = 2000
        do {
            let store = try MetadataLogStore(directory: directory)
            let raft = try RaftReplica(config: config, log: MetadataRaftLog(store: store),
                                       store: QuorumStateFileStore(directory: directory, voters: voterIds),
                                       seed: UInt64(truncatingIfNeeded: Self.monotonicMs()) ^ UInt64(UInt32(bitPattern: settings.nodeId)),
                                       now: Self.monotonicMs())
            self.raft = raft
            controller = QuorumController(raft: raft, clusterId: clusterId, sessionTimeoutMs: sessionTimeoutMs,
                                          uncleanLeaderElection: uncleanLeaderElection, rebalance: rebalance)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        let ownHost = settings.controllerListener?.host ?? settings.interBrokerListener?.host
        channels = NodeChannels(voters: settings.voters, localHost: ownHost, clientId: "sluice-quorum-\(settings.nodeId)",
                                      group: group)
    }

    public func start() {
        loop.execute { self.afterEvent() }
    }

    /// Called on `loop` with the image and the offset it reflects, whenever more has been applied.
    public func onImage(_ listener: @escaping @Sendable (MetadataImage, Int64) -> Void) {
        loop.execute {
            self.imageListeners.append(listener)
            if self.publishedOffset >= 0 { listener(self.controller.image, self.publishedOffset) }
        }
    }

    public func shutdown() {
        // From here on requests fail at once: work handed to the loop after its shutdown would
        // never run, and its promise would never complete.
        accepting.withLock { $0 = false }
        try? loop.submit {
            self.stopped = true
            self.timer?.cancel()
            for promise in self.inbound.values { promise.fail(ChannelError.ioOnClosedChannel) }
            self.inbound.removeAll()
        }.wait()
        channels.closeAll()
        try? group.syncShutdownGracefully()
    }

    static func monotonicMs() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }

    // MARK: Requests from other nodes

    /// A quorum request from another node; completes with the core's answer.
    func receive(_ message: RaftMessage, from source: Int32) -> EventLoopFuture<RaftMessage> {
        let promise = loop.makePromise(of: RaftMessage.self)
        onLoop(promise) {
            guard !self.stopped else { return promise.fail(ChannelError.ioOnClosedChannel) }
            let id = self.nextInboundId
            self.nextInboundId += 1
            self.inbound[id] = promise
            self.call("handle \(message.kindName) from \(source)") {
                try self.raft.handle(message.withRequestId(id), from: source, now: Self.monotonicMs())
            }
            // The core answers nothing it rejects as malformed for its state; do not hold the caller.
            if let unanswered = self.inbound[id], !message.mayWait {
                self.inbound[id] = nil
                unanswered.fail(RaftWire.WireError(description: "the quorum did not answer \(message.kindName)"))
            }
        }
        return promise.futureResult
    }

    /// A request for the controller; fails with NOT_CONTROLLER where this node is not the active one.
    public func submit(_ request: QuorumController.Request) -> EventLoopFuture<QuorumController.Reply> {
        let promise = loop.makePromise(of: QuorumController.Reply.self)
        onLoop(promise) {
            self.controller.submit(request, now: Self.monotonicMs()) { result in promise.completeWith(result.mapError { $0 }) }
            self.afterEvent()
        }
        return promise.futureResult
    }

    // MARK: The event loop

    private func call(_ what: String, _ body: () throws -> Void) {
        loop.preconditionInEventLoop()
        do {
            try body()
        } catch {
            // The metadata log could not be written or read: nothing this node says about the
            // quorum can be trusted any more. Kafka halts the process here too.
            logger.critical("the metadata quorum failed; stopping the process", metadata: ["during": "\(what)", "error": "\(error)"])
            exit(3)
        }
        afterEvent()
    }

    private func afterEvent() {
        loop.preconditionInEventLoop()
        guard !stopped else { return }
        do {
            try controller.poll(now: Self.monotonicMs())
        } catch {
            logger.critical("the controller could not apply the metadata log; stopping the process", metadata: ["error": "\(error)"])
            exit(3)
        }
        for outbound in raft.drainOutbound() {
            if outbound.message.isRequest {
                send(outbound.message, to: outbound.destination)
            } else if let promise = inbound.removeValue(forKey: outbound.message.requestId) {
                promise.succeed(outbound.message)
            }
        }
        publish()
        schedule()
    }

    private func publish() {
        let applied = controller.appliedOffset
        if !caughtUp, raft.leaderId != nil, raft.highWatermark > 0, applied >= raft.highWatermark {
            // Until then the image is a prefix of the cluster's (a restarting node replays its
            // log as the leader tells it what is committed): publishing it would delete topics.
            caughtUp = true
            logger.info("metadata caught up", metadata: ["offset": "\(applied)", "leader": "\(raft.leaderId ?? -1)", "epoch": "\(raft.epoch)"])
        }
        let moved = caughtUp && applied != publishedOffset
        if moved {
            // Listeners (the partition layer) first: once the status shows an offset, this node
            // serves what it holds.
            publishedOffset = applied
            let image = controller.image
            for listener in imageListeners { listener(image, applied) }
        }
        statusLock.withLock { status in
            status.leaderId = raft.leaderId
            status.epoch = raft.epoch
            status.highWatermark = raft.highWatermark
            status.role = raft.role
            status.replicas = raft.replicaProgress ?? []
            if moved {
                status.appliedOffset = applied
                status.image = controller.image
            }
        }
    }

    private func schedule() {
        var deadline = raft.nextDeadline
        if let controllerDeadline = controller.nextDeadline { deadline = min(deadline, controllerDeadline) }
        // Status (leader, lag) stays fresh for DescribeQuorum even while nothing else happens.
        deadline = min(deadline, Self.monotonicMs() + 500)
        guard deadline != timerDeadline || timer == nil else { return }
        timer?.cancel()
        timerDeadline = deadline
        let delay = max(0, deadline - Self.monotonicMs())
        timer = loop.scheduleTask(in: .milliseconds(delay)) { [self] in
            timer = nil
            timerDeadline = .max
            call("tick") { try raft.tick(now: Self.monotonicMs()) }
        }
    }

    /// Sends a request of the core's and hands its answer back to the core. A failed send is
    /// dropped: the core retries on its own timers, as over a lossy network.
    private func send(_ message: RaftMessage, to destination: Int32) {
        let requestId = message.requestId
        let (channels, clusterId, loop, logger) = (self.channels, self.clusterId, self.loop, self.logger)
        Task {
            do {
                let response: RaftMessage
                switch message {
                case .vote(let request):
                    response = try RaftWire.message(try await channels.send(RaftWire.vote(request, clusterId: clusterId),
                                                                             version: RaftWire.voteVersion, to: destination, timeout: .seconds(5)),
                                                    requestId: requestId)
                case .beginQuorumEpoch(let request):
                    response = try RaftWire.message(try await channels.send(RaftWire.beginQuorumEpoch(request, clusterId: clusterId),
                                                                             version: RaftWire.beginQuorumEpochVersion, to: destination,
                                                                             timeout: .seconds(5)), requestId: requestId)
                case .endQuorumEpoch(let request):
                    response = try RaftWire.message(try await channels.send(RaftWire.endQuorumEpoch(request, clusterId: clusterId),
                                                                             version: RaftWire.endQuorumEpochVersion, to: destination,
                                                                             timeout: .seconds(5)), requestId: requestId)
                case .fetch(let request):
                    response = try RaftWire.message(try await channels.send(RaftWire.fetch(request, clusterId: clusterId),
                                                                             version: RaftWire.fetchVersion, to: destination,
                                                                             timeout: .milliseconds(Int64(request.maxWaitMs) + 5000)),
                                                    requestId: requestId)
                case .fetchSnapshot(let request):
                    response = try RaftWire.message(try await channels.send(RaftWire.fetchSnapshot(request, clusterId: clusterId),
                                                                             version: RaftWire.fetchSnapshotVersion, to: destination,
                                                                             timeout: .seconds(10)), requestId: requestId)
                default:
                    return
                }
                if response.errorCode == .inconsistentVoterSet {
                    logger.error("a quorum peer answered INCONSISTENT_VOTER_SET: its controller.quorum.voters and this node's differ",
                                 metadata: ["peer": "\(destination)", "request": "\(message.kindName)"])
                }
                loop.execute {
                    guard !self.stopped else { return }
                    self.call("handle \(response.kindName) from \(destination)") {
                        try self.raft.handle(response, from: destination, now: Self.monotonicMs())
                    }
                }
            } catch let error as RaftWire.WireError {
                // INCONSISTENT_CLUSTER_ID and the like: the other node refuses to talk to this one.
                logger.error("a quorum peer refused a request", metadata: ["peer": "\(destination)", "request": "\(message.kindName)",
                                                                          "error": "\(error)"])
            } catch {
                logger.debug("a quorum request failed", metadata: ["peer": "\(destination)", "request": "\(message.kindName)",
                                                                  "error": "\(error)"])
            }
        }
    }
}

extension RaftMessage {
    var requestId: UInt64 {
        switch self {
        case .vote(let m): return m.requestId
        case .voteResponse(let m): return m.requestId
        case .beginQuorumEpoch(let m): return m.requestId
        case .beginQuorumEpochResponse(let m): return m.requestId
        case .endQuorumEpoch(let m): return m.requestId
        case .endQuorumEpochResponse(let m): return m.requestId
        case .fetch(let m): return m.requestId
        case .fetchResponse(let m): return m.requestId
        case .fetchSnapshot(let m): return m.requestId
        case .fetchSnapshotResponse(let m): return m.requestId
        }
    }

    func withRequestId(_ id: UInt64) -> RaftMessage {
        switch self {
        case .vote(var m): m.requestId = id; return .vote(m)
        case .beginQuorumEpoch(var m): m.requestId = id; return .beginQuorumEpoch(m)
        case .endQuorumEpoch(var m): m.requestId = id; return .endQuorumEpoch(m)
        case .fetch(var m): m.requestId = id; return .fetch(m)
        case .fetchSnapshot(var m): m.requestId = id; return .fetchSnapshot(m)
        default: return self
        }
    }

    /// A leader parks a fetch until records arrive or its wait ends.
    var mayWait: Bool { if case .fetch = self { return true } else { return false } }

    var kindName: String {
        switch self {
        case .vote: return "Vote"
        case .voteResponse: return "VoteResponse"
        case .beginQuorumEpoch: return "BeginQuorumEpoch"
        case .beginQuorumEpochResponse: return "BeginQuorumEpochResponse"
        case .endQuorumEpoch: return "EndQuorumEpoch"
        case .endQuorumEpochResponse: return "EndQuorumEpochResponse"
        case .fetch: return "Fetch"
        case .fetchResponse: return "FetchResponse"
        case .fetchSnapshot: return "FetchSnapshot"
        case .fetchSnapshotResponse: return "FetchSnapshotResponse"
        }
    }
}
