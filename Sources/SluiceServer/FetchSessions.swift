import KafkaProtocol
import SluiceCore
import Synchronization

/// Incremental fetch sessions (KIP-227). A client opens one with session id 0 and epoch 0; the
/// broker remembers its partitions and fetch offsets, and later requests (same id, next epoch)
/// list only what changed while responses list only partitions with news: data, an error, or a
/// moved high watermark or log start offset. Epoch -1 fetches without a session.
final class FetchSessions: Sendable {
    struct Key: Hashable, Sendable {
        let topic: String
        let topicId: KafkaUUID
        let partition: Int32
    }

    struct Entry: Sendable {
        var fetchOffset: Int64
        var maxBytes: Int32
        /// The client's view of the leader epoch (Fetch v9+; -1 when not given).
        var currentLeaderEpoch: Int32 = -1
        /// The epoch of the last batch the fetcher has (Fetch v12+, followers; -1 when not given).
        var lastFetchedEpoch: Int32 = -1
        var sentHighWatermark: Int64 = -2
        var sentLogStartOffset: Int64 = -2
        /// Kafka leaves this out, relying on the last stable offset moving only with the high
        /// watermark or the log start; a read_committed consumer stuck behind a stale value
        /// would wait for nothing, so a change is news here too.
        var sentLastStableOffset: Int64 = -2
    }

    struct Session: Sendable {
        var epoch: Int32
        var order: [Key]
        var entries: [Key: Entry]
        var lastUsedMs: Int64
    }

    /// What a fetch reads and how it answers.
    struct Plan: Sendable {
        var sessionId: Int32
        var wanted: [(Key, Entry)]
        var incremental: Bool
    }

    private struct State {
        var sessions: [Int32: Session] = [:]
        var nextId: Int32 = 1
    }

    private let state = Mutex(State())
    static let maximumSessions = 1000
    static let idleEvictionMs: Int64 = 120_000

    /// Works out the session a request belongs to, or the error it gets
    /// (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH).
    func plan(for request: FetchRequest, version: Int16, nowMs: Int64) -> Result<Plan, KafkaErrorCode> {
        let listed = request.topics.flatMap { topic in
            topic.partitions.map { (Key(topic: topic.topic, topicId: topic.topicId, partition: $0.partition),
                                    Entry(fetchOffset: $0.fetchOffset, maxBytes: $0.partitionMaxBytes, currentLeaderEpoch: $0.currentLeaderEpoch,
                                          lastFetchedEpoch: $0.lastFetchedEpoch)) }
        }
        let epoch = version >= 7 ? request.sessionEpoch : -1
        let id = version >= 7 ? request.sessionId : 0
        return state.withLock { state -> Result<Plan, KafkaErrorCode> in
            if epoch == -1 {
                if id != 0 { state.sessions[id] = nil }
                return .success(Plan(sessionId: 0, wanted: listed, incremental: false))
            }
            if epoch == 0 {
                if id != 0 { state.sessions[id] = nil }
                evictIdle(&state, nowMs: nowMs)
                guard state.sessions.count < Self.maximumSessions else {
                    // Out of session slots: serve it sessionless, as Kafka does.
                    return .success(Plan(sessionId: 0, wanted: listed, incremental: false))
                }
                let newId = state.nextId
                state.nextId = state.nextId == Int32.max ? 1 : state.nextId + 1
                var entries: [Key: Entry] = [:]
                for (key, entry) in listed { entries[key] = entry }
                state.sessions[newId] = Session(epoch: 1, order: listed.map(\.0), entries: entries, lastUsedMs: nowMs)
                return .success(Plan(sessionId: newId, wanted: listed, incremental: false))
            }
            guard var session = state.sessions[id] else { return .failure(.fetchSessionIdNotFound) }
            guard session.epoch == epoch else { return .failure(.invalidFetchSessionEpoch) }
            for (key, entry) in listed {
                if var existing = session.entries[key] {
                    existing.fetchOffset = entry.fetchOffset
                    existing.maxBytes = entry.maxBytes
                    existing.currentLeaderEpoch = entry.currentLeaderEpoch
                    existing.lastFetchedEpoch = entry.lastFetchedEpoch
                    session.entries[key] = existing
                } else {
                    session.entries[key] = entry
                    session.order.append(key)
                }
            }
            for forgotten in request.forgottenTopicsData {
                for partition in forgotten.partitions {
                    let key = Key(topic: forgotten.topic, topicId: forgotten.topicId, partition: partition)
                    session.entries[key] = nil
                }
            }
            session.order.removeAll { session.entries[$0] == nil }
            session.epoch = session.epoch == Int32.max ? 1 : session.epoch + 1
            session.lastUsedMs = nowMs
            state.sessions[id] = session
            return .success(Plan(sessionId: id, wanted: session.order.map { ($0, session.entries[$0]!) }, incremental: true))
        }
    }

    /// Records what was sent and, for incremental responses, keeps only partitions with news.
    func filter(_ reads: [FetchHandler.PartitionRead], keys: [Key], plan: Plan) -> [FetchHandler.PartitionRead] {
        guard plan.sessionId != 0 else { return reads }
        return state.withLock { state in
            guard var session = state.sessions[plan.sessionId] else { return reads }
            var kept: [FetchHandler.PartitionRead] = []
            var served: [Key] = []
            for (read, key) in zip(reads, keys) {
                guard var entry = session.entries[key] else { continue }
                let changed = read.bytes > 0 || read.code != .none || read.divergingEpoch != nil || entry.sentHighWatermark != read.highWatermark
                    || entry.sentLogStartOffset != read.logStartOffset || entry.sentLastStableOffset != read.lastStableOffset
                entry.sentHighWatermark = read.highWatermark
                entry.sentLogStartOffset = read.logStartOffset
                entry.sentLastStableOffset = read.lastStableOffset
                session.entries[key] = entry
                if !plan.incremental || changed { kept.append(read) }
                if read.bytes > 0 { served.append(key) }
            }
            if plan.incremental && !served.isEmpty {
                // Partitions that returned records go to the back, so under a small MaxBytes the
                // others get their turn first next time (Kafka's IncrementalFetchContext).
                let moved = Set(served)
                session.order = session.order.filter { !moved.contains($0) } + served
            }
            state.sessions[plan.sessionId] = session
            return kept
        }
    }

    private func evictIdle(_ state: inout State, nowMs: Int64) {
        state.sessions = state.sessions.filter { nowMs - $0.value.lastUsedMs < Self.idleEvictionMs }
    }
}
