/// A 128-bit Kafka UUID (topic ids, directory ids). Kafka prints them as URL-safe base64
/// without padding, 22 characters; `description` does the same.
public struct KafkaUUID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The all-zero UUID, which Kafka uses for "no id".
    public static let zero = KafkaUUID(high: 0, low: 0)

    /// A random version-4 UUID. Kafka never hands out ids whose base64 form starts with '-'
    /// (ambiguous on command lines) or the zero id; neither does this.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> KafkaUUID {
        while true {
            var id = KafkaUUID(high: generator.next(), low: generator.next())
            id.high = (id.high & ~0xF000) | 0x4000
            id.low = (id.low & ~(0xC000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000
            if id != .zero && !id.description.hasPrefix("-") { return id }
        }
    }

    public static func random() -> KafkaUUID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public var description: String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: low >> UInt64(shift))) }
        var out = [UInt8]()
        out.reserveCapacity(22)
        var index = 0
        while index < 16 {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < 16 ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < 16 ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(Self.alphabet[Int(triple >> 18 & 63)])
            out.append(Self.alphabet[Int(triple >> 12 & 63)])
            if index + 1 < 16 { out.append(Self.alphabet[Int(triple >> 6 & 63)]) }
            if index + 2 < 16 { out.append(Self.alphabet[Int(triple & 63)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses the 22-character URL-safe base64 form that `description` produces.
    public init?(_ text: String) {
        let chars = Array(text.utf8)
        guard chars.count == 22 else { return nil }
        var bits: [UInt8] = []
        bits.reserveCapacity(17)
        var accumulator: UInt32 = 0
        var count = 0
        for c in chars {
            guard let value = Self.alphabet.firstIndex(of: c) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            count += 6
            if count >= 8 {
                count -= 8
                bits.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(count)))
            }
        }
        guard bits.count == 16 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bits[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(bits[i]) }
        self.init(high: high, low: low)
    }
}
