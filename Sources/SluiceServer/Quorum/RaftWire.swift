import KafkaProtocol
import NIOCore
import SluiceRaft

/// The quorum's messages on the wire: `RaftMessage` to and from Kafka's Vote, BeginQuorumEpoch,
/// EndQuorumEpoch, Fetch and FetchSnapshot of `__cluster_metadata-0`, as KafkaRaftClient sends
/// them. The request id the core chooses travels as the connection's correlation id on the
/// sending side and is made up by the receiving side (`ControllerApis`), so it never crosses.
///
/// Versions are fixed: the lowest that carry what a static voter set needs (KIP-853's voter
/// directory ids and endpoints are not used), and Fetch v13, the first with topic ids.
enum RaftWire {
    static let topicName = "__cluster_metadata"
    /// Kafka's `Uuid.METADATA_TOPIC_ID` (AAAAAAAAAAAAAAAAAAAAAQ).
    static let topicId = KafkaUUID(high: 0, low: 1)
    static let voteVersion: Int16 = 0
    static let beginQuorumEpochVersion: Int16 = 0
    static let endQuorumEpochVersion: Int16 = 0
    static let fetchVersion: Int16 = 13
    static let fetchSnapshotVersion: Int16 = 0

    struct WireError: Error, CustomStringConvertible {
        let description: String
    }

    // MARK: Requests

    static func vote(_ request: RaftMessage.VoteRequest, clusterId: String) -> VoteRequest {
        VoteRequest(clusterId: clusterId, topics: [.init(topicName: topicName, partitions: [.init(
            partitionIndex: 0, candidateEpoch: request.candidateEpoch, candidateId: request.candidateId,
            lastOffsetEpoch: request.lastOffset.epoch, lastOffset: request.lastOffset.offset)])])
    }

    static func message(_ request: VoteRequest, requestId: UInt64) throws -> (RaftMessage, source: Int32) {
        guard let partition = request.topics.first?.partitions.first else { throw WireError(description: "Vote names no partition") }
        return (.vote(.init(requestId: requestId, candidateEpoch: partition.candidateEpoch, candidateId: partition.candidateId,
                            lastOffset: OffsetAndEpoch(offset: partition.lastOffset, epoch: partition.lastOffsetEpoch))),
                partition.candidateId)
    }

    static func beginQuorumEpoch(_ request: RaftMessage.BeginQuorumEpochRequest, clusterId: String) -> BeginQuorumEpochRequest {
        BeginQuorumEpochRequest(clusterId: clusterId, topics: [.init(topicName: topicName, partitions: [.init(
            partitionIndex: 0, leaderId: request.leaderId, leaderEpoch: request.epoch)])])
    }

    static func message(_ request: BeginQuorumEpochRequest, requestId: UInt64) throws -> (RaftMessage, source: Int32) {
        guard let partition = request.topics.first?.partitions.first else { throw WireError(description: "BeginQuorumEpoch names no partition") }
        return (.beginQuorumEpoch(.init(requestId: requestId, epoch: partition.leaderEpoch, leaderId: partition.leaderId)), partition.leaderId)
    }

    static func endQuorumEpoch(_ request: RaftMessage.EndQuorumEpochRequest, clusterId: String) -> EndQuorumEpochRequest {
        EndQuorumEpochRequest(clusterId: clusterId, topics: [.init(topicName: topicName, partitions: [.init(
            partitionIndex: 0, leaderId: request.leaderId, leaderEpoch: request.epoch, preferredSuccessors: request.preferredSuccessors)])])
    }

    static func message(_ request: EndQuorumEpochRequest, requestId: UInt64) throws -> (RaftMessage, source: Int32) {
        guard let partition = request.topics.first?.partitions.first else { throw WireError(description: "EndQuorumEpoch names no partition") }
        return (.endQuorumEpoch(.init(requestId: requestId, epoch: partition.leaderEpoch, leaderId: partition.leaderId,
                                      preferredSuccessors: partition.preferredSuccessors)), partition.leaderId)
    }

    static func fetch(_ request: RaftMessage.FetchRequest, clusterId: String) -> FetchRequest {
        FetchRequest(clusterId: clusterId, replicaId: request.replicaId, maxWaitMs: Int32(clamping: request.maxWaitMs), minBytes: 0,
                     maxBytes: 8 << 20, topics: [.init(topic: topicName, topicId: topicId, partitions: [.init(
                        partition: 0, currentLeaderEpoch: request.epoch, fetchOffset: request.fetchOffset,
                        lastFetchedEpoch: request.lastFetchedEpoch, logStartOffset: -1, partitionMaxBytes: 8 << 20)])])
    }

    static func message(_ request: FetchRequest, requestId: UInt64) throws -> (RaftMessage, source: Int32) {
        guard let topic = request.topics.first, topic.topicId == topicId || topic.topic == topicName,
              let partition = topic.partitions.first, partition.partition == 0 else {
            throw WireError(description: "Fetch on the controller listener names a partition other than \(topicName)-0")
        }
        return (.fetch(.init(requestId: requestId, replicaId: request.replicaId, epoch: partition.currentLeaderEpoch,
                             fetchOffset: partition.fetchOffset, lastFetchedEpoch: partition.lastFetchedEpoch,
                             maxWaitMs: Int64(request.maxWaitMs))), request.replicaId)
    }

    static func fetchSnapshot(_ request: RaftMessage.FetchSnapshotRequest, clusterId: String) -> FetchSnapshotRequest {
        FetchSnapshotRequest(clusterId: clusterId, replicaId: request.replicaId, maxBytes: Int32(clamping: request.maxBytes),
                             topics: [.init(name: topicName, partitions: [.init(
                                partition: 0, currentLeaderEpoch: request.epoch,
                                snapshotId: .init(endOffset: request.snapshotId.offset, epoch: request.snapshotId.epoch),
                                position: request.position)])])
    }

    static func message(_ request: FetchSnapshotRequest, requestId: UInt64) throws -> (RaftMessage, source: Int32) {
        guard let partition = request.topics.first?.partitions.first else { throw WireError(description: "FetchSnapshot names no partition") }
        return (.fetchSnapshot(.init(requestId: requestId, replicaId: request.replicaId, epoch: partition.currentLeaderEpoch,
                                     snapshotId: OffsetAndEpoch(offset: partition.snapshotId.endOffset, epoch: partition.snapshotId.epoch),
                                     position: partition.position, maxBytes: Int(request.maxBytes))), request.replicaId)
    }

    // MARK: Responses

    private static func leader(_ id: Int32?) -> Int32 { id ?? -1 }
    private static func leader(_ id: Int32) -> Int32? { id < 0 ? nil : id }

    static func voteResponse(_ response: RaftMessage.VoteResponse) -> VoteResponse {
        VoteResponse(errorCode: 0, topics: [.init(topicName: topicName, partitions: [.init(
            partitionIndex: 0, errorCode: response.error.rawValue, leaderId: leader(response.leaderId), leaderEpoch: response.epoch,
            voteGranted: response.voteGranted)])])
    }

    static func message(_ response: VoteResponse, requestId: UInt64) throws -> RaftMessage {
        guard response.errorCode == 0 else { throw WireError(description: "Vote answered \(KafkaErrorCode(rawValue: response.errorCode).name)") }
        guard let partition = response.topics.first?.partitions.first else { throw WireError(description: "Vote response names no partition") }
        return .voteResponse(.init(requestId: requestId, error: KafkaErrorCode(rawValue: partition.errorCode), epoch: partition.leaderEpoch,
                                   leaderId: leader(partition.leaderId), voteGranted: partition.voteGranted))
    }

    static func beginQuorumEpochResponse(_ response: RaftMessage.BeginQuorumEpochResponse) -> BeginQuorumEpochResponse {
        BeginQuorumEpochResponse(errorCode: 0, topics: [.init(topicName: topicName, partitions: [.init(
            partitionIndex: 0, errorCode: response.error.rawValue, leaderId: leader(response.leaderId), leaderEpoch: response.epoch)])])
    }

    static func message(_ response: BeginQuorumEpochResponse, requestId: UInt64) throws -> RaftMessage {
        guard response.errorCode == 0 else {
            throw WireError(description: "BeginQuorumEpoch answered \(KafkaErrorCode(rawValue: response.errorCode).name)")
        }
        guard let partition = response.topics.first?.partitions.first else { throw WireError(description: "BeginQuorumEpoch response names no partition") }
        return .beginQuorumEpochResponse(.init(requestId: requestId, error: KafkaErrorCode(rawValue: partition.errorCode),
                                               epoch: partition.leaderEpoch, leaderId: leader(partition.leaderId)))
    }

    static func endQuorumEpochResponse(_ response: RaftMessage.EndQuorumEpochResponse) -> EndQuorumEpochResponse {
        EndQuorumEpochResponse(errorCode: 0, topics: [.init(topicName: topicName, partitions: [.init(
            partitionIndex: 0, errorCode: response.error.rawValue, leaderId: leader(response.leaderId), leaderEpoch: response.epoch)])])
    }

    static func message(_ response: EndQuorumEpochResponse, requestId: UInt64) throws -> RaftMessage {
        guard response.errorCode == 0 else {
            throw WireError(description: "EndQuorumEpoch answered \(KafkaErrorCode(rawValue: response.errorCode).name)")
        }
        guard let partition = response.topics.first?.partitions.first else { throw WireError(description: "EndQuorumEpoch response names no partition") }
        return .endQuorumEpochResponse(.init(requestId: requestId, error: KafkaErrorCode(rawValue: partition.errorCode),
                                             epoch: partition.leaderEpoch, leaderId: leader(partition.leaderId)))
    }

    static func fetchResponse(_ response: RaftMessage.FetchResponse) throws -> FetchResponse {
        var partition = FetchResponse.PartitionData(
            partitionIndex: 0, errorCode: response.error.rawValue, highWatermark: response.highWatermark,
            records: try encodeRecords(response.records, baseOffset: response.baseOffset))
        partition.currentLeader = .init(leaderId: leader(response.leaderId), leaderEpoch: response.epoch)
        if let diverging = response.divergingEpoch {
            partition.divergingEpoch = .init(epoch: diverging.epoch, endOffset: diverging.offset)
        }
        if let snapshot = response.snapshotId {
            partition.snapshotId = .init(endOffset: snapshot.offset, epoch: snapshot.epoch)
        }
        return FetchResponse(errorCode: 0, responses: [.init(topic: topicName, topicId: topicId, partitions: [partition])])
    }

    static func message(_ response: FetchResponse, requestId: UInt64) throws -> RaftMessage {
        guard response.errorCode == 0 else { throw WireError(description: "Fetch answered \(KafkaErrorCode(rawValue: response.errorCode).name)") }
        guard let partition = response.responses.first?.partitions.first else { throw WireError(description: "Fetch response names no partition") }
        let (base, records) = try decodeRecords(partition.records)
        let diverging = partition.divergingEpoch.epoch >= 0
            ? OffsetAndEpoch(offset: partition.divergingEpoch.endOffset, epoch: partition.divergingEpoch.epoch) : nil
        let snapshot = partition.snapshotId.epoch >= 0 && partition.snapshotId.endOffset >= 0
            ? OffsetAndEpoch(offset: partition.snapshotId.endOffset, epoch: partition.snapshotId.epoch) : nil
        return .fetchResponse(.init(requestId: requestId, error: KafkaErrorCode(rawValue: partition.errorCode),
                                    epoch: partition.currentLeader.leaderEpoch, leaderId: leader(partition.currentLeader.leaderId),
                                    highWatermark: partition.highWatermark, baseOffset: base ?? -1, records: records,
                                    divergingEpoch: diverging, snapshotId: snapshot))
    }

    static func fetchSnapshotResponse(_ response: RaftMessage.FetchSnapshotResponse) -> FetchSnapshotResponse {
        FetchSnapshotResponse(errorCode: 0, topics: [.init(name: topicName, partitions: [.init(
            index: 0, errorCode: response.error.rawValue,
            snapshotId: .init(endOffset: response.snapshotId.offset, epoch: response.snapshotId.epoch),
            currentLeader: .init(leaderId: leader(response.leaderId), leaderEpoch: response.epoch),
            size: response.size, position: response.position, unalignedRecords: ByteBuffer(bytes: response.bytes))])])
    }

    static func message(_ response: FetchSnapshotResponse, requestId: UInt64) throws -> RaftMessage {
        guard response.errorCode == 0 else {
            throw WireError(description: "FetchSnapshot answered \(KafkaErrorCode(rawValue: response.errorCode).name)")
        }
        guard let partition = response.topics.first?.partitions.first else { throw WireError(description: "FetchSnapshot response names no partition") }
        return .fetchSnapshotResponse(.init(
            requestId: requestId, error: KafkaErrorCode(rawValue: partition.errorCode), epoch: partition.currentLeader.leaderEpoch,
            leaderId: leader(partition.currentLeader.leaderId),
            snapshotId: OffsetAndEpoch(offset: partition.snapshotId.endOffset, epoch: partition.snapshotId.epoch),
            size: partition.size, position: partition.position,
            bytes: partition.unalignedRecords.map { Array($0.readableBytesView) } ?? []))
    }

    // MARK: Records

    /// One v2 batch per run of records with the same epoch and kind, each stamped with its epoch
    /// as Kafka's leader stamps batches; a control record carries LeaderChange's key.
    static func encodeRecords(_ records: [RaftRecord], baseOffset: Int64) throws -> ByteBuffer {
        var out = ByteBuffer()
        var index = 0
        while index < records.count {
            let first = records[index]
            var builder = RecordBatchBuilder(baseOffset: baseOffset + Int64(index), isControl: first.isControl,
                                             partitionLeaderEpoch: first.epoch)
            while index < records.count, records[index].epoch == first.epoch, records[index].isControl == first.isControl {
                let key = first.isControl ? ByteBuffer(bytes: [0, 0, 0, 2]) : nil
                builder.append(key: key, value: ByteBuffer(bytes: records[index].payload), timestamp: 0)
                index += 1
            }
            var batch = try builder.build()
            out.writeBuffer(&batch)
        }
        return out
    }

    static func decodeRecords(_ bytes: ByteBuffer?) throws -> (baseOffset: Int64?, records: [RaftRecord]) {
        guard let bytes, bytes.readableBytes > 0 else { return (nil, []) }
        var base: Int64?
        var records: [RaftRecord] = []
        for batch in try RecordBatch.all(in: bytes) {
            try batch.verifyCRC()
            let expected = (base ?? batch.header.baseOffset) + Int64(records.count)
            guard batch.header.baseOffset == expected else {
                throw WireError(description: "metadata batches are not contiguous: \(batch.header.baseOffset) after \(expected)")
            }
            if base == nil { base = batch.header.baseOffset }
            try batch.forEachRecord(decompressionLimit: 64 << 20) { record in
                records.append(RaftRecord(epoch: batch.header.partitionLeaderEpoch,
                                          payload: record.value.map { Array($0.readableBytesView) } ?? [],
                                          isControl: batch.header.attributes.isControl))
            }
        }
        return (base, records)
    }
}
