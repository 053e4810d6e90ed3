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
    }

    public struct VoteResponse: Sendable, Equatable {
        public var requestId: UInt64
        public var error: KafkaErrorCode
        public var epoch: Int32
        public var leaderId: Int32?
        public var voteGranted: Bool
    }

    public struct BeginQuorumEpochRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var epoch: Int32
        public var leaderId: Int32
    }

    public struct BeginQuorumEpochResponse: Sendable, Equatable {
        public var requestId: UInt64
        public var error: KafkaErrorCode
        public var epoch: Int32
        public var leaderId: Int32?
    }

    public struct EndQuorumEpochRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var epoch: Int32
        public var leaderId: Int32
        /// Voters in the order the resigning leader would like them to stand.
        public var preferredSuccessors: [Int32]
    }

    public struct EndQuorumEpochResponse: Sendable, Equatable {
        public var requestId: UInt64
        public var error: KafkaErrorCode
        public var epoch: Int32
        public var leaderId: Int32?
    }

    public struct FetchRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var replicaId: Int32
        /// The epoch the fetcher believes current (Kafka's CurrentLeaderEpoch).
        public var epoch: Int32
        public var fetchOffset: Int64
        public var lastFetchedEpoch: Int32
        public var maxWaitMs: Int64
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
    }

    public struct FetchSnapshotRequest: Sendable, Equatable {
        public var requestId: UInt64
        public var replicaId: Int32
        public var epoch: Int32
        public var snapshotId: OffsetAndEpoch
        public var position: Int64
        public var maxBytes: Int
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
    }
}

/// A message the replica wants delivered.
public struct RaftOutbound: Sendable, Equatable {
    public var destination: Int32
    public var message: RaftMessage
}
