import KafkaProtocol
import Logging
import NIOCore
import SluiceClient
import SluiceCore
import SluiceStorage
import Synchronization

/// Fetches the partitions this broker follows from one leader (Kafka's ReplicaFetcherThread),
/// over one connection bound to this broker's own address. A round: a Fetch (v16, ReplicaState
/// naming this broker and its epoch) for every partition with no write in flight, from its
/// log end with its last epoch; then each answer on the partition's owner — append the batches
/// as the leader stored them, or cut a diverged tail (DivergingEpoch) — and the next round
/// only once those appends are on disk, so the offset a follower fetches from is durable here.
final class ReplicaFetcher: Sendable {
    struct Settings: Sendable {
        var nodeId: Int32
        var localAddress: SocketAddress?
        var maxWaitMs: Int32
        var partitionMaxBytes: Int32
        var responseMaxBytes: Int32
        var backoffMs: Int64
    }

    let leader: Int32
    private let settings: Settings
    private let endpoint: @Sendable () -> BrokerAddress?
    private let brokerEpoch: @Sendable () -> Int64
    private let group: any EventLoopGroup
    private let logger: Logger
    private let partitions = Mutex<[ObjectIdentifier: Partition]>([:])
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let connection = Mutex<BrokerConnection?>(nil)
    /// Partitions that got an error, and when they may be fetched again.
    private let delayed = Mutex<[ObjectIdentifier: ContinuousClock.Instant]>([:])
    /// Partitions whose last append failed: a full disk fails every retry, and one warning per
    /// streak says so without a line a second per partition.
    private let failingAppends = Mutex<Set<ObjectIdentifier>>([])

    init(leader: Int32, settings: Settings, endpoint: @escaping @Sendable () -> BrokerAddress?,
         brokerEpoch: @escaping @Sendable () -> Int64, group: any EventLoopGroup, logger: Logger) {
        self.leader = leader
        self.settings = settings
        self.endpoint = endpoint
        self.brokerEpoch = brokerEpoch
        self.group = group
        var logger = logger
        logger[metadataKey: "leader"] = "\(leader)"
        self.logger = logger
    }

    func setPartitions(_ wanted: [Partition]) {
        let kept = Dictionary(wanted.map { (ObjectIdentifier($0), $0) }, uniquingKeysWith: { first, _ in first })
        partitions.withLock { $0 = kept }
        delayed.withLock { delayed in delayed = delayed.filter { kept[$0.key] != nil } }
    }

    func start() {
        task.withLock { task in
            guard task == nil else { return }
            task = Task { [self] in await run() }
        }
    }

    func stop() {
        task.withLock { $0?.cancel() }
        connection.withLock { $0?.close() }
    }

    private func run() async {
        while !Task.isCancelled {
            do {
                let fetched = try await fetchRound()
                if !fetched { try await Task.sleep(for: .milliseconds(20)) }
            } catch is CancellationError {
                return
            } catch {
                logger.debug("replica fetch failed", metadata: ["error": "\(error)"])
                connection.withLock { $0?.close(); $0 = nil }
                try? await Task.sleep(for: .milliseconds(settings.backoffMs))
            }
        }
    }

    /// What one partition's fetch asks for, read on its owner.
    private struct Position: Sendable {
        let partition: Partition
        let fetchOffset: Int64
        let lastFetchedEpoch: Int32
        let currentLeaderEpoch: Int32
        let logStartOffset: Int64
    }

    /// One fetch and what follows from it; false when there was nothing to fetch.
    private func fetchRound() async throws -> Bool {
        let now = ContinuousClock.now
        let candidates = partitions.withLock { Array($0.values) }.filter { partition in
            delayed.withLock { $0[ObjectIdentifier(partition)].map { $0 <= now } ?? true }
        }
        var positions: [Position] = []
        for partition in candidates {
            if let position = await partition.onOwner({ () -> Position? in
                guard let log = partition.log, !log.isOffline, !log.hasAppendsInFlight else { return nil }
                let state = partition.state
                guard state.leader == self.leader, state.replicas.contains(self.settings.nodeId) else { return nil }
                return Position(partition: partition, fetchOffset: log.logEndOffset, lastFetchedEpoch: log.epochs.latestEpoch ?? -1,
                                currentLeaderEpoch: state.leaderEpoch, logStartOffset: log.logStartOffset)
            }) {
                positions.append(position)
            }
        }
        guard !positions.isEmpty else { return false }
        let connection = try await connected()
        var topics: [FetchRequest.FetchTopic] = []
        for position in positions {
            let fetch = FetchRequest.FetchPartition(partition: position.partition.index, currentLeaderEpoch: position.currentLeaderEpoch,
                                                    fetchOffset: position.fetchOffset, lastFetchedEpoch: position.lastFetchedEpoch,
                                                    logStartOffset: position.logStartOffset,
                                                    partitionMaxBytes: settings.partitionMaxBytes)
            if let index = topics.firstIndex(where: { $0.topicId == position.partition.topicId }) {
                topics[index].partitions.append(fetch)
            } else {
                topics.append(FetchRequest.FetchTopic(topic: position.partition.topic, topicId: position.partition.topicId,
                                                      partitions: [fetch]))
            }
        }
        let request = FetchRequest(replicaId: -1, replicaState: .init(replicaId: settings.nodeId, replicaEpoch: brokerEpoch()),
                                   maxWaitMs: settings.maxWaitMs, minBytes: 1, maxBytes: settings.responseMaxBytes,
                                   isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: topics)
        let response = try await connection.send(request, version: Self.fetchVersion,
                                                 timeout: .milliseconds(Int64(settings.maxWaitMs) + 15_000))
        guard response.errorCode == 0 else {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode), "replica Fetch")
        }
        var handled: [Task<Void, Never>] = []
        for topic in response.responses {
            for answer in topic.partitions {
                guard let position = positions.first(where: { $0.partition.topicId == topic.topicId && $0.partition.index == answer.partitionIndex })
                else { continue }
                handled.append(Task { await self.handle(answer, for: position) })
            }
        }
        for task in handled { await task.value }
        return true
    }

    static let fetchVersion: Int16 = 16

    private func handle(_ answer: FetchResponse.PartitionData, for position: Position) async {
        let partition = position.partition
        let code = KafkaErrorCode(rawValue: answer.errorCode)
        if code == .offsetOutOfRange {
            await resetOutOfRange(partition, position: position)
            return
        }
        guard code == .none else {
            if ![.notLeaderOrFollower, .fencedLeaderEpoch, .unknownLeaderEpoch, .unknownTopicId, .unknownTopicOrPartition].contains(code) {
                logger.warning("replica fetch refused", metadata: [
                    "topic": "\(partition.topic)", "partition": "\(partition.index)", "error": "\(code.name)",
                    "offset": "\(position.fetchOffset)"])
            }
            // Until the metadata catches up (a new leader or epoch) or the leader recovers.
            delay(partition, byMs: settings.backoffMs)
            return
        }
        if answer.divergingEpoch.epoch >= 0 {
            await truncate(partition, diverging: answer.divergingEpoch, position: position)
            return
        }
        let records = answer.records ?? ByteBuffer()
        let highWatermark = answer.highWatermark
        let nowMs = wallClockMilliseconds()
        let result: Result<Int64, StorageError> = await withCheckedContinuation { continuation in
            partition.owner.execute {
                guard let log = partition.log, log.logEndOffset == position.fetchOffset else {
                    continuation.resume(returning: .failure(.offline(reason: "the log moved while its fetch was answered")))
                    return
                }
                let leaderLogStart = answer.logStartOffset
                do {
                    try log.appendAsFollower(records, nowMs: nowMs) { result in
                        if case .success = result {
                            log.advanceHighWatermark(to: highWatermark)
                            // The leader's log start moved (DeleteRecords, retention): so does this one's.
                            if leaderLogStart > log.logStartOffset {
                                _ = try? log.deleteRecords(before: min(leaderLogStart, log.highWatermark))
                            }
                        }
                        continuation.resume(returning: result)
                    }
                } catch {
                    continuation.resume(returning: .failure(error as? StorageError ?? .offline(reason: "\(error)")))
                }
            }
        }
        let key = ObjectIdentifier(partition)
        if case .failure(let error) = result {
            let first = failingAppends.withLock { $0.insert(key).inserted }
            logger.log(level: first ? .warning : .debug, "could not append the leader's batches; retrying", metadata: [
                "topic": "\(partition.topic)", "partition": "\(partition.index)", "error": "\(error)"])
            delay(partition, byMs: settings.backoffMs)
        } else if failingAppends.withLock({ $0.remove(key) }) != nil {
            logger.info("appending the leader's batches again", metadata: ["topic": "\(partition.topic)", "partition": "\(partition.index)"])
        }
    }

    /// Cuts the tail that diverged from the leader's log (Kafka's truncateOnFetchResponse and
    /// getOffsetTruncationState): to the end the leader gives for the epoch, or this log's own
    /// end of that epoch when that is lower. The next fetch checks again from there, so epochs
    /// that diverged more than once take more rounds.
    private func truncate(_ partition: Partition, diverging: FetchResponse.EpochEndOffset, position: Position) async {
        let outcome: String = await partition.onOwner {
            guard let log = partition.log, !log.hasAppendsInFlight, log.logEndOffset == position.fetchOffset else { return "busy" }
            let own = log.epochs.endOffset(for: diverging.epoch, logEndOffset: log.logEndOffset)
            var target = diverging.endOffset
            if own.endOffset != LeaderEpochCache.undefinedOffset { target = min(target, own.endOffset) }
            target = max(target, log.logStartOffset)
            do {
                let before = log.logEndOffset
                try log.truncate(to: target)
                return "truncated \(before) -> \(log.logEndOffset)"
            } catch {
                return "failed: \(error)"
            }
        }
        logger.info("follower log diverged from the leader's", metadata: [
            "topic": "\(partition.topic)", "partition": "\(partition.index)", "epoch": "\(diverging.epoch)",
            "leaderEndOffset": "\(diverging.endOffset)", "outcome": "\(outcome)"])
    }

    /// The leader has nothing at this log's end (Kafka's handleOutOfRangeError): its log starts
    /// later — retention or DeleteRecords removed what this replica lacks, so it starts over at
    /// the leader's log start — or ends earlier (an unclean election made a shorter log the
    /// leader's), so this one is cut back to it.
    private func resetOutOfRange(_ partition: Partition, position: Position) async {
        func offset(_ timestamp: Int64) async -> Int64? {
            let request = ListOffsetsRequest(replicaId: settings.nodeId, isolationLevel: 0, topics: [
                .init(name: partition.topic, partitions: [.init(partitionIndex: partition.index,
                                                                currentLeaderEpoch: position.currentLeaderEpoch, timestamp: timestamp)]),
            ])
            guard let connection = try? await connected(),
                  let response = try? await connection.send(request, version: 4, timeout: .seconds(10)),
                  let answer = response.topics.first?.partitions.first, answer.errorCode == 0 else { return nil }
            return answer.offset
        }
        guard let earliest = await offset(-2), let latest = await offset(-1) else {
            delay(partition, byMs: settings.backoffMs)
            return
        }
        let outcome: String = await partition.onOwner {
            guard let log = partition.log, !log.hasAppendsInFlight, log.logEndOffset == position.fetchOffset else { return "busy" }
            do {
                if log.logEndOffset < earliest {
                    try log.truncateFully(startingAt: earliest)
                    return "started over at \(earliest)"
                }
                if log.logEndOffset > latest {
                    try log.truncate(to: latest)
                    return "cut back to \(log.logEndOffset)"
                }
                return "in range now"
            } catch {
                return "failed: \(error)"
            }
        }
        logger.warning("follower's fetch offset out of the leader's range", metadata: [
            "topic": "\(partition.topic)", "partition": "\(partition.index)", "offset": "\(position.fetchOffset)",
            "leaderLogStart": "\(earliest)", "leaderEnd": "\(latest)", "outcome": "\(outcome)"])
        if outcome == "in range now" { delay(partition, byMs: settings.backoffMs) }
    }

    private func delay(_ partition: Partition, byMs ms: Int64) {
        let until = ContinuousClock.now + .milliseconds(ms)
        delayed.withLock { $0[ObjectIdentifier(partition)] = until }
    }

    private func connected() async throws -> BrokerConnection {
        if let open = connection.withLock({ $0 }), open.isActive { return open }
        guard let address = endpoint() else {
            throw KafkaClientError(kind: .connection, message: "broker \(leader) has no known endpoint")
        }
        let opened = try await BrokerConnection.connect(to: address, clientId: "sluice-replica-fetcher-\(settings.nodeId)",
                                                        connectTimeout: .seconds(3), requestTimeout: .seconds(30),
                                                        group: group, localAddress: settings.localAddress)
        connection.withLock { $0 = opened }
        return opened
    }
}
