import Glibc

/// The sparse offset index of one segment: (offset relative to the segment's base, byte
/// position) pairs, one every `index.interval.bytes` of log. On disk it is Kafka's layout —
/// 8-byte entries, a big-endian int32 relative offset then an int32 position — without
/// preallocation. It has no checksum: after an unclean shutdown it is rebuilt from the log.
struct OffsetIndex {
    static let entrySize = 8
    private(set) var relativeOffsets: [UInt32] = []
    private(set) var positions: [UInt32] = []

    var count: Int { relativeOffsets.count }
    var lastPosition: UInt32? { positions.last }

    mutating func append(relativeOffset: UInt32, position: UInt32) {
        if let last = relativeOffsets.last, relativeOffset <= last { return }
        relativeOffsets.append(relativeOffset)
        positions.append(position)
    }

    /// The entry with the largest offset ≤ `relativeOffset`: where to start scanning for it.
    func lookup(relativeOffset: UInt32) -> (relativeOffset: UInt32, position: UInt32)? {
        var low = 0
        var high = relativeOffsets.count - 1
        var found: Int?
        while low <= high {
            let mid = (low + high) / 2
            if relativeOffsets[mid] <= relativeOffset {
                found = mid
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        return found.map { (relativeOffsets[$0], positions[$0]) }
    }

    func serialized() -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(count * Self.entrySize)
        for index in 0..<count {
            bytes.appendBigEndian(relativeOffsets[index])
            bytes.appendBigEndian(positions[index])
        }
        return bytes
    }

    /// Parses an index file; nil when it is not a valid index for a log of `logSize` bytes
    /// (odd size, entries out of order, positions past the end), so the caller rebuilds it.
    static func parse(_ bytes: [UInt8], logSize: Int64) -> OffsetIndex? {
        guard bytes.count % entrySize == 0 else { return nil }
        var index = OffsetIndex()
        var cursor = 0
        while cursor < bytes.count {
            let offset = bytes.readBigEndianUInt32(at: cursor)
            let position = bytes.readBigEndianUInt32(at: cursor + 4)
            if let last = index.relativeOffsets.last, offset <= last { return nil }
            if let last = index.positions.last, position <= last { return nil }
            guard Int64(position) < logSize else { return nil }
            index.relativeOffsets.append(offset)
            index.positions.append(position)
            cursor += entrySize
        }
        return index
    }
}

/// The sparse time index of one segment: (largest timestamp so far, relative offset of the
/// batch that reached it). Kafka's layout: 12-byte entries, int64 timestamp then int32 offset.
struct TimeIndex {
    static let entrySize = 12
    private(set) var timestamps: [Int64] = []
    private(set) var relativeOffsets: [UInt32] = []

    var count: Int { timestamps.count }
    var lastTimestamp: Int64? { timestamps.last }

    mutating func append(timestamp: Int64, relativeOffset: UInt32) {
        if let last = timestamps.last, timestamp <= last { return }
        if let last = relativeOffsets.last, relativeOffset < last { return }
        timestamps.append(timestamp)
        relativeOffsets.append(relativeOffset)
    }

    /// The relative offset from which to scan for the first batch with a timestamp ≥ `timestamp`:
    /// the entry with the largest timestamp below it (batches before that entry's offset are all
    /// older), or nil to scan from the segment's start.
    func lookup(timestamp: Int64) -> UInt32? {
        var low = 0
        var high = timestamps.count - 1
        var found: Int?
        while low <= high {
            let mid = (low + high) / 2
            if timestamps[mid] < timestamp {
                found = mid
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        return found.map { relativeOffsets[$0] }
    }

    func serialized() -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(count * Self.entrySize)
        for index in 0..<count {
            bytes.appendBigEndian(UInt64(bitPattern: timestamps[index]))
            bytes.appendBigEndian(relativeOffsets[index])
        }
        return bytes
    }

    static func parse(_ bytes: [UInt8], nextRelativeOffset: UInt32) -> TimeIndex? {
        guard bytes.count % entrySize == 0 else { return nil }
        var index = TimeIndex()
        var cursor = 0
        while cursor < bytes.count {
            let timestamp = Int64(bitPattern: bytes.readBigEndianUInt64(at: cursor))
            let offset = bytes.readBigEndianUInt32(at: cursor + 8)
            if let last = index.timestamps.last, timestamp <= last { return nil }
            if let last = index.relativeOffsets.last, offset < last { return nil }
            guard offset < nextRelativeOffset else { return nil }
            index.timestamps.append(timestamp)
            index.relativeOffsets.append(offset)
            cursor += entrySize
        }
        return index
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { append(contentsOf: $0) }
    }

    func readBigEndianUInt32(at index: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(self[index + i]) }
        return value
    }

    func readBigEndianUInt64(at index: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(self[index + i]) }
        return value
    }

    func readBigEndianInt64(at index: Int) -> Int64 { Int64(bitPattern: readBigEndianUInt64(at: index)) }
    func readBigEndianInt32(at index: Int) -> Int32 { Int32(bitPattern: readBigEndianUInt32(at: index)) }
}
