import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceRaft
@testable import SluiceServer

/// Every quorum message survives the trip through Kafka's wire format at the versions the
/// nodes speak, and the metadata records a Fetch carries come back with their epochs, kinds
/// and offsets: what one node's core says is what the other's hears.
@Suite struct RaftWireTests {
    /// Encodes at `version` and decodes again, as the two ends of a connection do.
    func overTheWire<M: KafkaMessage>(_ message: M, version: Int16) throws -> M {
        var buffer = ByteBuffer()
        try message.write(to: &buffer, version: version)
        let decoded = try M(from: &buffer, version: version)
        #expect(buffer.readableBytes == 0, "\(M.self) v\(version) left bytes unread")
        return decoded
    }

    @Test func requestsCarryWhatTheCoreSent() throws {
        let vote = RaftMessage.VoteRequest(requestId: 1, candidateEpoch: 7, candidateId: 2, lastOffset: OffsetAndEpoch(offset: 41, epoch: 6))
        let wireVote = try overTheWire(RaftWire.vote(vote, clusterId: "c"), version: RaftWire.voteVersion)
        #expect(wireVote.clusterId == "c")
        let (back, source) = try RaftWire.message(wireVote, requestId: 1)
        #expect(back == .vote(vote) && source == 2)

        let begin = RaftMessage.BeginQuorumEpochRequest(requestId: 2, epoch: 7, leaderId: 3)
        let (beginBack, beginSource) = try RaftWire.message(
            try overTheWire(RaftWire.beginQuorumEpoch(begin, clusterId: "c"), version: RaftWire.beginQuorumEpochVersion), requestId: 2)
        #expect(beginBack == .beginQuorumEpoch(begin) && beginSource == 3)

        let end = RaftMessage.EndQuorumEpochRequest(requestId: 3, epoch: 7, leaderId: 3, preferredSuccessors: [1, 2])
        let (endBack, endSource) = try RaftWire.message(
            try overTheWire(RaftWire.endQuorumEpoch(end, clusterId: "c"), version: RaftWire.endQuorumEpochVersion), requestId: 3)
        #expect(endBack == .endQuorumEpoch(end) && endSource == 3)

        let fetch = RaftMessage.FetchRequest(requestId: 4, replicaId: 1, epoch: 7, fetchOffset: 100, lastFetchedEpoch: 6, maxWaitMs: 500)
        let wireFetch = try overTheWire(RaftWire.fetch(fetch, clusterId: "c"), version: RaftWire.fetchVersion)
        #expect(wireFetch.topics.first?.topicId == RaftWire.topicId)
        #expect(RaftWire.topicId.description == "AAAAAAAAAAAAAAAAAAAAAQ")
        let (fetchBack, fetchSource) = try RaftWire.message(wireFetch, requestId: 4)
        #expect(fetchBack == .fetch(fetch) && fetchSource == 1)

        let snapshot = RaftMessage.FetchSnapshotRequest(requestId: 5, replicaId: 1, epoch: 7, snapshotId: OffsetAndEpoch(offset: 90, epoch: 5),
                                                        position: 4096, maxBytes: 65536)
        let (snapshotBack, snapshotSource) = try RaftWire.message(
            try overTheWire(RaftWire.fetchSnapshot(snapshot, clusterId: "c"), version: RaftWire.fetchSnapshotVersion), requestId: 5)
        #expect(snapshotBack == .fetchSnapshot(snapshot) && snapshotSource == 1)
    }

    @Test func fetchAnswersKeepEveryRecordsEpochKindAndOffset() throws {
        let records = [
            RaftRecord(epoch: 3, payload: [1, 2, 3]), RaftRecord(epoch: 3, payload: [4]),
            RaftRecord(epoch: 4, payload: [0, 0, 0, 1], isControl: true), RaftRecord(epoch: 4, payload: []),
            RaftRecord(epoch: 4, payload: Array(repeating: 9, count: 3000)),
        ]
        let answer = RaftMessage.FetchResponse(requestId: 9, error: .none, epoch: 4, leaderId: 2, highWatermark: 15, baseOffset: 10,
                                               records: records)
        let back = try RaftWire.message(try overTheWire(try RaftWire.fetchResponse(answer), version: RaftWire.fetchVersion), requestId: 9)
        #expect(back == .fetchResponse(answer))

        let diverging = RaftMessage.FetchResponse(requestId: 10, error: .none, epoch: 4, leaderId: 2, highWatermark: 15, baseOffset: -1,
                                                  records: [], divergingEpoch: OffsetAndEpoch(offset: 12, epoch: 3))
        #expect(try RaftWire.message(try overTheWire(try RaftWire.fetchResponse(diverging), version: RaftWire.fetchVersion),
                                     requestId: 10) == .fetchResponse(diverging))

        let toSnapshot = RaftMessage.FetchResponse(requestId: 11, error: .none, epoch: 4, leaderId: 2, highWatermark: 15, baseOffset: -1,
                                                   records: [], snapshotId: OffsetAndEpoch(offset: 8, epoch: 2))
        #expect(try RaftWire.message(try overTheWire(try RaftWire.fetchResponse(toSnapshot), version: RaftWire.fetchVersion),
                                     requestId: 11) == .fetchResponse(toSnapshot))

        // A follower's own error answers (no leader known) keep their error and an unknown leader.
        let refused = RaftMessage.FetchResponse(requestId: 12, error: .notLeaderOrFollower, epoch: 5, leaderId: nil, highWatermark: -1,
                                                baseOffset: -1, records: [])
        #expect(try RaftWire.message(try overTheWire(try RaftWire.fetchResponse(refused), version: RaftWire.fetchVersion),
                                     requestId: 12) == .fetchResponse(refused))
    }

    @Test func electionAnswersKeepTheirErrorsAndLeaders() throws {
        let granted = RaftMessage.VoteResponse(requestId: 1, error: .none, epoch: 7, leaderId: nil, voteGranted: true)
        #expect(try RaftWire.message(try overTheWire(RaftWire.voteResponse(granted), version: RaftWire.voteVersion), requestId: 1)
                == .voteResponse(granted))
        let outsider = RaftMessage.VoteResponse(requestId: 2, error: .inconsistentVoterSet, epoch: 7, leaderId: 1, voteGranted: false)
        #expect(try RaftWire.message(try overTheWire(RaftWire.voteResponse(outsider), version: RaftWire.voteVersion), requestId: 2)
                == .voteResponse(outsider))
        let begun = RaftMessage.BeginQuorumEpochResponse(requestId: 3, error: .none, epoch: 7, leaderId: 1)
        #expect(try RaftWire.message(try overTheWire(RaftWire.beginQuorumEpochResponse(begun), version: RaftWire.beginQuorumEpochVersion),
                                     requestId: 3) == .beginQuorumEpochResponse(begun))
        let chunk = RaftMessage.FetchSnapshotResponse(requestId: 4, error: .none, epoch: 7, leaderId: 1,
                                                      snapshotId: OffsetAndEpoch(offset: 90, epoch: 5), size: 10, position: 4, bytes: [1, 2, 3])
        #expect(try RaftWire.message(try overTheWire(RaftWire.fetchSnapshotResponse(chunk), version: RaftWire.fetchSnapshotVersion),
                                     requestId: 4) == .fetchSnapshotResponse(chunk))
    }

    @Test func aTopLevelErrorIsARefusalNotAnAnswer() throws {
        // INCONSISTENT_CLUSTER_ID comes as the response's own error: the sender drops it and logs.
        #expect(throws: RaftWire.WireError.self) {
            try RaftWire.message(VoteResponse(errorCode: KafkaErrorCode.inconsistentClusterId.rawValue), requestId: 1)
        }
        #expect(throws: RaftWire.WireError.self) {
            try RaftWire.message(FetchResponse(errorCode: KafkaErrorCode.inconsistentClusterId.rawValue), requestId: 1)
        }
    }
}
