import KafkaProtocol

/// The quorum's messages as the core sees them: the fields of Kafka's Vote, BeginQuorumEpoch,
/// EndQuorumEpoch, Fetch (of `__cluster_metadata-0`) and FetchSnapshot that the protocol
/// depends on. The broker maps them to and from the wire; the simulator delivers them as they
/// are. `requestId` is chosen by the sender and echoed, so a late, duplicated or reordered
/// response is recognised and dropped.
public enum RaftMessage: Sendable, Equatable {
    case vote(VoteRequest)
    case voteResponse(VoteResponse)
    case beginQuorumEpoch(BeginQuorumEpochRequest)
    case beginQuorumEpochResponse(BeginQuorumEpochResponse)
    case endQuorumEpoch(EndQuorumEpochRequest)
    case endQuorumEpochResponse(EndQuorumEpochResponse)
    case fetch(FetchRequest)
    case fetchResponse(FetchResponse)
    case fetchSnapshot(FetchSnapshotRequest)
    case fetchSnapshotResponse(FetchSnapshotResponse)

    public var isRequest: Bool {
        switch self {
        case .vote, .beginQuorumEpoch, .endQuorumEpoch, .fetch, .fetchSnapshot: return true
        default: return false
        }
    }

    public struct VoteRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var candidateEpoch: Int32
        public var candidateId: Int32
        /// The candidate's log end: a voter grants only to a log at least as up to date.
        public var lastOffset: OffsetAndEpoch
        public init(requestId: UInt64, candidateEpoch: Int32, candidateId: Int32, lastOffset: OffsetAndEpoch) {
            self.requestId = requestId
            self.candidateEpoch = candidateEpoch
            self.candidateId = candidateId
            self.lastOffset = lastOffset
        }
    }

    public struct VoteResponse: Sendable, Equatable {
        public var requestId: UInt64
        public var error: KafkaErrorCode
        public var epoch: Int32
        public var leaderId: Int32?
        public var voteGranted: Bool
        public init(requestId: UInt64, error: KafkaErrorCode, epoch: Int32, leaderId: Int32? = nil, voteGranted: Bool) {
            self.requestId = requestId
            self.error = error
            self.epoch = epoch
            self.leaderId = leaderId
            self.voteGranted = voteGranted
        }
    }

    public struct BeginQuorumEpochRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var epoch: Int32
        public var leaderId: Int32
        public init(requestId: UInt64, epoch: Int32, leaderId: Int32) {
            self.requestId = requestId
            self.epoch = epoch
            self.leaderId = leaderId
        }
    }

    public struct BeginQuorumEpochResponse: Sendable, Equatable {
        public var requestId: UInt64
        public var error: KafkaErrorCode
        public var epoch: Int32
        public var leaderId: Int32?
        public init(requestId: UInt64, error: KafkaErrorCode, epoch: Int32, leaderId: Int32? = nil) {
            self.requestId = requestId
            self.error = error
            self.epoch = epoch
            self.leaderId = leaderId
        }
    }

    public struct EndQuorumEpochRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var epoch: Int32
        public var leaderId: Int32
        /// Voters in the order the resigning leader would like them to stand.
        public var preferredSuccessors: [Int32]
        public init(requestId: UInt64, epoch: Int32, leaderId: Int32, preferredSuccessors: [Int32]) {
            self.requestId = requestId
            self.epoch = epoch
            self.leaderId = leaderId
            self.preferredSuccessors = preferredSuccessors
        }
    }

    public struct EndQuorumEpochResponse: Sendable, Equatable {
        public var requestId: UInt64
        public var error: KafkaErrorCode
        public var epoch: Int32
        public var leaderId: Int32?
        public init(requestId: UInt64, error: KafkaErrorCode, epoch: Int32, leaderId: Int32? = nil) {
            self.requestId = requestId
            self.error = error
            self.epoch = epoch
            self.leaderId = leaderId
        }
    }

    public struct FetchRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var replicaId: Int32
        /// The epoch the fetcher believes current (Kafka's CurrentLeaderEpoch).
        public var epoch: Int32
        public var fetchOffset: Int64
        public var lastFetchedEpoch: Int32
        public var maxWaitMs: Int64
        public init(requestId: UInt64, replicaId: Int32, epoch: Int32, fetchOffset: Int64, lastFetchedEpoch: Int32, maxWaitMs: Int64) {
            self.requestId = requestId
            self.replicaId = replicaId
            self.epoch = epoch
            self.fetchOffset = fetchOffset
            self.lastFetchedEpoch = lastFetchedEpoch
            self.maxWaitMs = maxWaitMs
        }
    }

    public struct FetchResponse: Sendable, Equatable {
        public var requestId: UInt64
        public var error: KafkaErrorCode
        public var epoch: Int32
        public var leaderId: Int32?
        /// -1 while the leader has not yet committed a record of its own epoch.
        public var highWatermark: Int64
        public var baseOffset: Int64
        public var records: [RaftRecord]
        /// Set when the fetcher's log diverges from the leader's: truncate to this epoch's end.
        public var divergingEpoch: OffsetAndEpoch?
        /// Set when the fetch offset is below the leader's log start: fetch this snapshot.
        public var snapshotId: OffsetAndEpoch?
        public init(requestId: UInt64, error: KafkaErrorCode, epoch: Int32, leaderId: Int32? = nil, highWatermark: Int64, baseOffset: Int64, records: [RaftRecord], divergingEpoch: OffsetAndEpoch? = nil, snapshotId: OffsetAndEpoch? = nil) {
            self.requestId = requestId
            self.error = error
            self.epoch = epoch
            self.leaderId = leaderId
            self.highWatermark = highWatermark
            self.baseOffset = baseOffset
            self.records = records
            self.divergingEpoch = divergingEpoch
            self.snapshotId = snapshotId
        }
    }

    public struct FetchSnapshotRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var replicaId: Int32
        public var epoch: Int32
        public var snapshotId: OffsetAndEpoch
        public var position: Int64
        public var maxBytes: Int
        public init(requestId: UInt64, replicaId: Int32, epoch: Int32, snapshotId: OffsetAndEpoch, position: Int64, maxBytes: Int) {
            self.requestId = requestId
            self.replicaId = replicaId
            self.epoch = epoch
            self.snapshotId = snapshotId
            self.position = position
            self.maxBytes = maxBytes
        }
    }

    public struct FetchSnapshotResponse: Sendable, Equatable {
        public var requestId: UInt64
        public var error: KafkaErrorCode
        public var epoch: Int32
        public var leaderId: Int32?
        public var snapshotId: OffsetAndEpoch
        public var size: Int64
        public var position: Int64
        public var bytes: [UInt8]
        public init(requestId: UInt64, error: KafkaErrorCode, epoch: Int32, leaderId: Int32? = nil, snapshotId: OffsetAndEpoch, size: Int64, position: Int64, bytes: [UInt8]) {
            self.requestId = requestId
            self.error = error
            self.epoch = epoch
            self.leaderId = leaderId
            self.snapshotId = snapshotId
            self.size = size
            self.position = position
            self.bytes = bytes
        }
    }
}

/// A message the replica wants delivered.
public struct RaftOutbound: Sendable, Equatable {
    public var destination: Int32
    public var message: RaftMessage
}
