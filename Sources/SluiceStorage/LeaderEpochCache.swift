import Glibc

/// Which leader epoch wrote which offsets: epoch → the first offset it wrote, as Kafka's
/// LeaderEpochFileCache keeps in `leader-epoch-checkpoint` (KIP-101, KIP-279). It answers
/// OffsetForLeaderEpoch and a follower's divergence check, so a replica that missed an epoch
/// truncates to where its log and the leader's agree instead of keeping records no leader
/// acknowledged.
///
/// File format (Kafka's CheckpointFile): a version line (0), an entry count line, then one
/// "epoch startOffset" line per entry, oldest first. Written atomically.
///
/// Owned by its partition log (one thread); not thread-safe.
public struct LeaderEpochCache: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let epoch: Int32
        public var startOffset: Int64
    }

    /// Oldest first; epochs and start offsets both strictly grow.
    public private(set) var entries: [Entry] = []

    public static let fileName = "leader-epoch-checkpoint"
    public static let undefinedEpoch: Int32 = -1
    public static let undefinedOffset: Int64 = -1

    public init(entries: [Entry] = []) {
        self.entries = entries
    }

    public var latestEpoch: Int32? { entries.last?.epoch }

    /// Records that `epoch` starts writing at `startOffset` (a batch of a new epoch appended, or
    /// a new leader's first offset), as Kafka's assign does: the latest epoch again changes
    /// nothing unless it moves earlier; otherwise entries of this epoch or later, or starting
    /// here or later, give way to it. Returns whether the cache changed.
    @discardableResult
    public mutating func assign(epoch: Int32, startOffset: Int64) -> Bool {
        guard epoch >= 0, startOffset >= 0 else { return false }
        if let last = entries.last, last.epoch == epoch, startOffset >= last.startOffset { return false }
        entries.removeAll { $0.epoch >= epoch || $0.startOffset >= startOffset }
        entries.append(Entry(epoch: epoch, startOffset: startOffset))
        return true
    }

    /// Kafka's endOffsetFor: the epoch asked about (or the largest one below it the log has) and
    /// the offset where it ended — the next epoch's start, or the log end for the latest epoch.
    /// An epoch later than any known, or -1, gives (-1, -1).
    public func endOffset(for requestedEpoch: Int32, logEndOffset: Int64) -> (epoch: Int32, endOffset: Int64) {
        guard requestedEpoch != Self.undefinedEpoch, let latest = entries.last else {
            return (Self.undefinedEpoch, Self.undefinedOffset)
        }
        if requestedEpoch == latest.epoch { return (latest.epoch, logEndOffset) }
        guard let higher = entries.first(where: { $0.epoch > requestedEpoch }) else {
            return (Self.undefinedEpoch, Self.undefinedOffset)
        }
        // The floor: the largest epoch at or below the one requested.
        guard let floor = entries.last(where: { $0.epoch <= requestedEpoch }) else {
            return (requestedEpoch, higher.startOffset)
        }
        return (floor.epoch, higher.startOffset)
    }

    /// The epoch that wrote `offset`, when known.
    public func epoch(forOffset offset: Int64) -> Int32? {
        entries.last { $0.startOffset <= offset }?.epoch
    }

    /// After the log was truncated to `endOffset`: epochs that start at or after it are gone.
    public mutating func truncate(fromEnd endOffset: Int64) {
        entries.removeAll { $0.startOffset >= endOffset }
    }

    /// After the log start moved to `startOffset`: epochs wholly before it are gone and the one
    /// it falls in now starts there.
    public mutating func truncate(fromStart startOffset: Int64) {
        guard let keep = entries.lastIndex(where: { $0.startOffset <= startOffset }) else { return }
        entries.removeFirst(keep)
        entries[0].startOffset = startOffset
    }

    // MARK: File

    public func serialized() -> [UInt8] {
        var text = "0\n\(entries.count)\n"
        for entry in entries { text += "\(entry.epoch) \(entry.startOffset)\n" }
        return Array(text.utf8)
    }

    /// Parses a checkpoint; nil when it is not one (then the caller rebuilds it from the log).
    public static func parse(_ bytes: [UInt8]) -> LeaderEpochCache? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 2, lines[0] == "0", let count = Int(lines[1]), count >= 0, lines.count >= 2 + count else { return nil }
        var cache = LeaderEpochCache()
        for line in lines[2..<(2 + count)] {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let epoch = Int32(fields[0]), let start = Int64(fields[1]) else { return nil }
            cache.entries.append(Entry(epoch: epoch, startOffset: start))
        }
        return cache
    }
}
