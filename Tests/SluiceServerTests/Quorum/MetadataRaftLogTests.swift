import Glibc
import Testing
@testable import SluiceRaft
@testable import SluiceServer
import SluiceStorage

/// The quorum core on real files: what it commits survives the process, and its election state
/// is Kafka's quorum-state file.
@Suite struct MetadataRaftLogTests {
    final class Directory {
        let path: String
        init() {
            var template = Array("/tmp/sluice-quorum-XXXXXX".utf8CString)
            path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        }
        deinit { _ = system("rm -rf '\(path)'") }
    }

    /// One node's process: its replica over files in `directory`.
    struct Process {
        let replica: RaftReplica
        init(id: Int32, voters: Set<Int32>, directory: String, now: Int64) throws {
            let store = try MetadataLogStore(directory: directory + "/" + MetadataLogStore.directoryName)
            replica = try RaftReplica(config: RaftConfig(nodeId: id, voters: voters), log: MetadataRaftLog(store: store),
                                      store: QuorumStateFileStore(directory: directory, voters: voters), seed: UInt64(id), now: now)
        }
    }

    func committedPayloads(_ replica: RaftReplica) -> [String] {
        var values: [String] = []
        var next: Int64 = 0
        while let read = replica.readCommitted(from: next) {
            guard case .records(_, let records) = read else { break }
            values += records.filter { !$0.isControl }.map { String(decoding: $0.payload, as: UTF8.self) }
            next += Int64(records.count)
        }
        return values
    }

    @Test func aSingleVoterCommitsAndKeepsItsRecordsAcrossRestarts() throws {
        let dir = Directory()
        var now: Int64 = 0
        do {
            let node = try Process(id: 1, voters: [1], directory: dir.path, now: now)
            #expect(node.replica.isLeader && node.replica.epoch == 1)
            try node.replica.append([Array("a".utf8), Array("b".utf8)], now: now)
            now += 100
            try node.replica.tick(now: now)
            #expect(committedPayloads(node.replica) == ["a", "b"])
        }
        // A new process: a new epoch, and the old records committed again under its first record.
        let node = try Process(id: 1, voters: [1], directory: dir.path, now: now)
        #expect(node.replica.isLeader && node.replica.epoch == 2)
        try node.replica.tick(now: now + 100)
        #expect(committedPayloads(node.replica) == ["a", "b"])
        let state = try #require(try QuorumStateFile(directory: dir.path).read())
        #expect(state.leaderEpoch == 2 && state.leaderId == 1 && state.voters == [1])
    }

    @Test func threeVotersOnDiskElectReplicateAndRecover() throws {
        let dirs = [Directory(), Directory(), Directory()]
        let voters: Set<Int32> = [1, 2, 3]
        var now: Int64 = 0
        var nodes = try (1...3).map { try Process(id: Int32($0), voters: voters, directory: dirs[$0 - 1].path, now: now) }
        func run(for milliseconds: Int64) throws {
            let end = now + milliseconds
            while now < end {
                now += 10
                for node in nodes { try node.replica.tick(now: now) }
                var pending = nodes.flatMap { node in node.replica.drainOutbound().map { (node.replica.nodeId, $0) } }
                while !pending.isEmpty {
                    let (from, outbound) = pending.removeFirst()
                    let target = nodes[Int(outbound.destination) - 1].replica
                    try target.handle(outbound.message, from: from, now: now)
                    pending += target.drainOutbound().map { (target.nodeId, $0) }
                }
            }
        }
        try run(for: 5_000)
        let leader = try #require(nodes.first { $0.replica.isLeader })
        try leader.replica.append((1...50).map { Array("record-\($0)".utf8) }, now: now)
        try run(for: 1_000)
        let expected = (1...50).map { "record-\($0)" }
        for node in nodes { #expect(committedPayloads(node.replica) == expected) }

        // Every process stops at once; new ones on the same files elect again and keep it all.
        let epochBefore = leader.replica.epoch
        nodes = try (1...3).map { try Process(id: Int32($0), voters: voters, directory: dirs[$0 - 1].path, now: now) }
        try run(for: 6_000)
        let newLeader = try #require(nodes.first { $0.replica.isLeader })
        #expect(newLeader.replica.epoch > epochBefore)
        for node in nodes { #expect(committedPayloads(node.replica) == expected) }
    }
}
