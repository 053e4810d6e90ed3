@testable import SluiceRaft

/// One process of the simulated quorum: its disk (log and election state) outlives crashes,
/// its replica and state machine do not.
final class SimulatedNode {
    let id: Int32
    let config: RaftConfig
    let log = MemoryRaftLog()
    let store = MemoryQuorumStateStore()
    var replica: RaftReplica?
    var incarnation = 0
    /// The state machine: every committed record, in offset order (the snapshot is this list).
    var applied: [RaftRecord] = []
    var scheduledTick: Int64?
    var pausedUntil: Int64?
    var highestEpochSeen: Int32 = 0
    var highWatermarkSeen: Int64 = 0

    init(id: Int32, config: RaftConfig) {
        self.id = id
        self.config = config
    }

    var isRunning: Bool { replica != nil }

    func start(now: Int64, seed: UInt64) throws {
        incarnation += 1
        applied = []
        scheduledTick = nil
        pausedUntil = nil
        highWatermarkSeen = 0
        replica = try RaftReplica(config: config, log: log, store: store, seed: seed, now: now)
    }

    func crash(lostFlushed: Int = 0) {
        replica = nil
        log.crash(lostFlushed: lostFlushed)
    }
}

/// The state machine's snapshot format: the committed records themselves.
enum HistorySnapshot {
    static func encode(_ records: ArraySlice<RaftRecord>) -> [UInt8] {
        var bytes: [UInt8] = []
        for record in records {
            append(UInt32(bitPattern: record.epoch), to: &bytes)
            bytes.append(record.isControl ? 1 : 0)
            append(UInt32(record.payload.count), to: &bytes)
            bytes += record.payload
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> [RaftRecord]? {
        var records: [RaftRecord] = []
        var index = 0
        func read32() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            defer { index += 4 }
            return bytes[index..<index + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        while index < bytes.count {
            guard let epoch = read32(), index < bytes.count else { return nil }
            let isControl = bytes[index] == 1
            index += 1
            guard let length = read32(), index + Int(length) <= bytes.count else { return nil }
            records.append(RaftRecord(epoch: Int32(bitPattern: epoch), payload: Array(bytes[index..<index + Int(length)]),
                                      isControl: isControl))
            index += Int(length)
        }
        return records
    }

    private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
