import Glibc
import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

@Suite struct MetadataLogStoreTests {
    func records(_ epoch: Int32, _ values: String...) -> [MetadataLogRecord] {
        values.map { MetadataLogRecord(epoch: epoch, payload: Array($0.utf8), isControl: false) }
    }

    func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : -1
    }

    @Test func recordsSurviveAReopenAsKafkaRecordBatches() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/" + MetadataLogStore.directoryName
        do {
            let log = try MetadataLogStore(directory: path)
            try log.append([MetadataLogRecord(epoch: 1, payload: [9, 9], isControl: true)] + records(1, "a", "b"), timestampMs: 5)
            try log.append(records(2, "c"), timestampMs: 6)
            try log.flush()
            #expect(log.endOffset == 4 && log.flushedEndOffset == 4)
        }
        let reopened = try MetadataLogStore(directory: path)
        #expect(reopened.records.map { String(decoding: $0.payload, as: UTF8.self) } == ["\u{9}\u{9}", "a", "b", "c"])
        #expect(reopened.records.map(\.epoch) == [1, 1, 1, 2])
        #expect(reopened.records.map(\.isControl) == [true, false, false, false])

        // The segment is plain v2 batches: a control batch, then one per epoch, each stamped.
        let bytes = try #require(readWholeFile(path: path + "/00000000000000000000.log"))
        let batches = try RecordBatch.all(in: ByteBuffer(bytes: bytes))
        #expect(batches.map(\.header.baseOffset) == [0, 1, 3])
        #expect(batches.map(\.header.partitionLeaderEpoch) == [1, 1, 2])
        #expect(batches.map(\.header.attributes.isControl) == [true, false, false])
        for batch in batches { try batch.verifyCRC() }
    }

    @Test func aTornTailIsCutAtTheLastWholeBatch() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/" + MetadataLogStore.directoryName
        let segment = path + "/00000000000000000000.log"
        do {
            let log = try MetadataLogStore(directory: path)
            try log.append(records(1, "a"), timestampMs: 0)
            try log.append(records(1, "b"), timestampMs: 0)
            try log.flush()
        }
        let whole = fileSize(segment)
        #expect(truncate(segment, off_t(whole - 3)) == 0)
        let reopened = try MetadataLogStore(directory: path)
        #expect(reopened.records == records(1, "a"))
        #expect(reopened.recoveredTruncatedBytes > 0)
        #expect(fileSize(segment) < whole - 3)
        // And it goes on from there.
        try reopened.append(records(2, "c"), timestampMs: 0)
        try reopened.flush()
        #expect(try MetadataLogStore(directory: path).records == records(1, "a") + records(2, "c"))
    }

    @Test func aFlippedBitEndsTheLogThere() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/" + MetadataLogStore.directoryName
        let segment = path + "/00000000000000000000.log"
        do {
            let log = try MetadataLogStore(directory: path)
            try log.append(records(1, "a"), timestampMs: 0)
            try log.append(records(1, "b"), timestampMs: 0)
            try log.flush()
        }
        var bytes = try #require(readWholeFile(path: segment))
        bytes[bytes.count - 2] ^= 0x40
        try writeFileAtomically(path: segment, bytes: bytes, sync: true)
        #expect(try MetadataLogStore(directory: path).records == records(1, "a"))
    }

    @Test func truncationInsideABatchKeepsItsHead() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/" + MetadataLogStore.directoryName
        let log = try MetadataLogStore(directory: path)
        try log.append(records(1, "a", "b", "c", "d"), timestampMs: 0)
        try log.flush()
        try log.truncate(to: 2)
        #expect(log.records == records(1, "a", "b"))
        try log.append(records(3, "x"), timestampMs: 0)
        try log.flush()
        #expect(try MetadataLogStore(directory: path).records == records(1, "a", "b") + records(3, "x"))
    }

    @Test func aSnapshotStartsTheLogAtItsOffset() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/" + MetadataLogStore.directoryName
        do {
            let log = try MetadataLogStore(directory: path)
            try log.append(records(1, "a", "b", "c", "d", "e"), timestampMs: 0)
            try log.flush()
            try log.storeSnapshot(offset: 3, epoch: 1, data: Array("state@3".utf8))
            #expect(log.startOffset == 3)
            #expect(log.records == records(1, "d", "e"))
        }
        let reopened = try MetadataLogStore(directory: path)
        #expect(reopened.startOffset == 3 && reopened.endOffset == 5)
        #expect(reopened.records == records(1, "d", "e"))
        #expect(reopened.snapshotIds.map(\.offset) == [3])
        #expect(reopened.snapshotData(offset: 3, epoch: 1) == Array("state@3".utf8))
        #expect(listDirectory(path)?.sorted() == ["00000000000000000003-0000000001.checkpoint", "00000000000000000003.log"])

        // A snapshot past the end (fetched from a leader) replaces the whole log; old ones are
        // kept a while, then dropped.
        for offset in Int64(10)...13 { try reopened.storeSnapshot(offset: offset, epoch: 2, data: [UInt8(offset)]) }
        #expect(reopened.startOffset == 13 && reopened.endOffset == 13 && reopened.records.isEmpty)
        #expect(reopened.snapshotIds.map(\.offset) == [11, 12, 13])
        #expect(reopened.snapshotData(offset: 3, epoch: 1) == nil)
        #expect(try MetadataLogStore(directory: path).startOffset == 13)
    }

    @Test func theQuorumStateFileIsKafkasJSON() throws {
        let dir = TemporaryDirectory()
        let file = QuorumStateFile(directory: dir.path)
        #expect(try file.read() == nil)
        try file.write(.init(leaderEpoch: 7, leaderId: 2, votedId: -1, voters: [3, 1, 2]))
        let text = String(decoding: try #require(readWholeFile(path: dir.path + "/quorum-state")), as: UTF8.self)
        #expect(text == #"{"clusterId":"","leaderId":2,"leaderEpoch":7,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":2},{"voterId":3}],"data_version":0}"#)
        #expect(try file.read() == .init(leaderEpoch: 7, leaderId: 2, votedId: -1, voters: [1, 2, 3]))
        // Kafka's own file (with spaces and other fields) reads too; garbage is refused.
        try writeFileAtomically(path: file.path, bytes: Array(#"{"clusterId": "", "leaderId": -1, "leaderEpoch": 12, "votedId": 3, "appliedOffset": 0, "currentVoters": null, "data_version": 0}"#.utf8), sync: false)
        #expect(try file.read() == .init(leaderEpoch: 12, leaderId: -1, votedId: 3, voters: []))
        try writeFileAtomically(path: file.path, bytes: Array("not json".utf8), sync: false)
        #expect(throws: StorageError.self) { try file.read() }
    }
}
