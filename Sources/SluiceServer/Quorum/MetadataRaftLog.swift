import Glibc
import SluiceRaft
import SluiceStorage

/// The quorum's log on disk: SluiceStorage's MetadataLogStore seen as the Raft core's
/// `RaftLog`. Owned by the quorum's thread.
final class MetadataRaftLog: RaftLog {
    let store: MetadataLogStore
    private var latest: RaftSnapshot?

    init(store: MetadataLogStore) {
        self.store = store
        if let id = store.snapshotIds.last, let data = store.snapshotData(offset: id.offset, epoch: id.epoch) {
            latest = RaftSnapshot(id: OffsetAndEpoch(offset: id.offset, epoch: id.epoch), data: data)
        }
    }

    var startOffset: Int64 { store.startOffset }
    var flushedEndOffset: Int64 { store.flushedEndOffset }
    var latestSnapshot: RaftSnapshot? { latest }

    var end: OffsetAndEpoch {
        OffsetAndEpoch(offset: store.endOffset, epoch: store.records.last?.epoch ?? latest?.id.epoch ?? 0)
    }

    func snapshot(id: OffsetAndEpoch) -> RaftSnapshot? {
        if latest?.id == id { return latest }
        return store.snapshotData(offset: id.offset, epoch: id.epoch).map { RaftSnapshot(id: id, data: $0) }
    }

    func append(_ records: [RaftRecord]) throws {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let timestamp = Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
        try store.append(records.map { MetadataLogRecord(epoch: $0.epoch, payload: $0.payload, isControl: $0.isControl) },
                         timestampMs: timestamp)
    }

    func flush() throws { try store.flush() }

    func truncate(to offset: Int64) throws { try store.truncate(to: offset) }

    func read(from offset: Int64, maxRecords: Int) -> [RaftRecord] {
        guard offset >= store.startOffset, offset < store.endOffset else { return [] }
        let first = Int(offset - store.startOffset)
        return store.records[first..<min(store.records.count, first + maxRecords)].map {
            RaftRecord(epoch: $0.epoch, payload: $0.payload, isControl: $0.isControl)
        }
    }

    func epoch(at offset: Int64) -> Int32? {
        if offset == store.startOffset - 1, let latest { return latest.id.epoch }
        guard offset >= store.startOffset, offset < store.endOffset else { return nil }
        return store.records[Int(offset - store.startOffset)].epoch
    }

    func endOffset(forEpoch epoch: Int32) -> OffsetAndEpoch {
        EpochLookup.endOffset(forEpoch: epoch, recordEpochs: store.records.lazy.map(\.epoch), startOffset: store.startOffset,
                              snapshotId: latest?.id)
    }

    func storeSnapshot(_ snapshot: RaftSnapshot) throws {
        try store.storeSnapshot(offset: snapshot.id.offset, epoch: snapshot.id.epoch, data: snapshot.data)
        if latest.map({ $0.id.offset < snapshot.id.offset }) ?? true { latest = snapshot }
    }
}

/// The election state in Kafka's `quorum-state` file.
final class QuorumStateFileStore: QuorumStateStore {
    let file: QuorumStateFile
    let voters: [Int32]

    init(directory: String, voters: Set<Int32>) {
        file = QuorumStateFile(directory: directory)
        self.voters = voters.sorted()
    }

    func read() throws -> ElectionState? {
        guard let contents = try file.read() else { return nil }
        return ElectionState(epoch: contents.leaderEpoch, leaderId: contents.leaderId >= 0 ? contents.leaderId : nil,
                             votedId: contents.votedId >= 0 ? contents.votedId : nil)
    }

    func write(_ state: ElectionState) throws {
        try file.write(.init(leaderEpoch: state.epoch, leaderId: state.leaderId ?? -1, votedId: state.votedId ?? -1, voters: voters))
    }
}
