/// Key digest → the offset of the latest record with that key, in a fixed number of slots
/// (`log.cleaner.dedupe.buffer.size` / 24 bytes, filled to `loadFactor` at most), as Kafka's
/// SkimpyOffsetMap: open addressing with linear probing, no allocation after creation. A pass
/// that would overfill it stops at a segment boundary and cleans what it covered.
struct OffsetMap {
    static let bytesPerEntry = 24
    private var highs: [UInt64]
    private var lows: [UInt64]
    /// -1 marks an empty slot.
    private var offsets: [Int64]
    private(set) var count = 0
    /// Entries it takes before refusing new keys.
    let capacity: Int
    /// The largest offset put, or -1.
    private(set) var latestOffset: Int64 = -1

    init(memoryBytes: Int, loadFactor: Double = 0.9) {
        let slots = max(16, memoryBytes / Self.bytesPerEntry)
        highs = Array(repeating: 0, count: slots)
        lows = Array(repeating: 0, count: slots)
        offsets = Array(repeating: -1, count: slots)
        capacity = max(1, Int(Double(slots) * min(max(loadFactor, 0.1), 0.99)))
    }

    var isFull: Bool { count >= capacity }

    private func slot(for digest: KeyDigest) -> Int {
        var index = Int(truncatingIfNeeded: digest.low % UInt64(offsets.count))
        while offsets[index] >= 0 && (highs[index] != digest.high || lows[index] != digest.low) {
            index += 1
            if index == offsets.count { index = 0 }
        }
        return index
    }

    /// Records `offset` as the latest for the key; false (nothing changed) when the key is new
    /// and the map is full.
    @discardableResult
    mutating func put(_ digest: KeyDigest, offset: Int64) -> Bool {
        let index = slot(for: digest)
        if offsets[index] < 0 {
            guard count < capacity else { return false }
            highs[index] = digest.high
            lows[index] = digest.low
            count += 1
        }
        offsets[index] = offset
        latestOffset = max(latestOffset, offset)
        return true
    }

    func offset(for digest: KeyDigest) -> Int64? {
        let found = offsets[slot(for: digest)]
        return found >= 0 ? found : nil
    }
}
