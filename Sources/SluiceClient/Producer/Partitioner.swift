import NIOCore

/// The Java client's partitioning: keyed records go to `toPositive(murmur2(key)) % partitions`
/// (so Java, librdkafka's `murmur2_random` and this client agree on a key's partition); unkeyed
/// records stick to one partition per topic until its batch is sent (KIP-480).
public enum Partitioner {
    /// Kafka's murmur2 (Utils.murmur2): seed 0x9747b28c, m 0x5bd1e995, r 24.
    public static func murmur2(_ bytes: some Collection<UInt8>) -> Int32 {
        let data = Array(bytes)
        let length = data.count
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let quads = length / 4
        for index in 0..<quads {
            let i = index * 4
            var k = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = quads * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(data[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition of a keyed record among `count` partitions.
    public static func partition(forKey key: ByteBuffer, count: Int32) -> Int32 {
        let hash = key.withUnsafeReadableBytes { murmur2($0) }
        return (hash & 0x7fff_ffff) % count
    }
}
