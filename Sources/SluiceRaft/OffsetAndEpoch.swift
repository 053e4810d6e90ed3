/// A position in the metadata log together with the leader epoch that wrote up to it: a log's
/// end (offset is the next offset to write, epoch that of the last record), a snapshot's id, or
/// a diverging point. Ordered as Raft compares logs: the later epoch wins, then the longer log.
public struct OffsetAndEpoch: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var offset: Int64
    public var epoch: Int32

    public init(offset: Int64, epoch: Int32) {
        self.offset = offset
        self.epoch = epoch
    }

    public static let zero = OffsetAndEpoch(offset: 0, epoch: 0)

    public static func < (lhs: OffsetAndEpoch, rhs: OffsetAndEpoch) -> Bool {
        (lhs.epoch, lhs.offset) < (rhs.epoch, rhs.offset)
    }

    public var description: String { "\(offset)@\(epoch)" }
}

/// SplitMix64, seeded by the host: the broker seeds it from the system, the simulator from the
/// run's seed, so that every election timeout of a simulated run replays exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
