import KafkaProtocol
import NIOCore

/// A small seeded generator (SplitMix64) so that a failing random case can be replayed
/// from the seed the test prints.
struct TestRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func nextBool() -> Bool {
        next() & 1 == 1
    }

    mutating func nextBool(oneIn n: UInt64) -> Bool {
        next() % n == 0
    }

    /// Integers biased towards the edges (0, -1, min, max) where encoders go wrong.
    mutating func nextInteger<T: FixedWidthInteger>(_: T.Type) -> T {
        switch next() % 8 {
        case 0: return 0
        case 1: return T.max
        case 2: return T.min
        case 3: return T(truncatingIfNeeded: -1)
        default: return T(truncatingIfNeeded: next())
        }
    }

    mutating func nextDouble() -> Double {
        Double(Int64(truncatingIfNeeded: next()) >> 11) / 1024
    }

    mutating func nextUUID() -> KafkaUUID {
        KafkaUUID(high: next(), low: next())
    }

    private static let pieces = ["a", "Z", "0", "_", "-", ".", "é", "ß", "日本", "🙂", " "]

    mutating func nextString() -> String {
        let count = Int(next() % 12)
        var text = ""
        for _ in 0..<count {
            text += Self.pieces[Int(next() % UInt64(Self.pieces.count))]
        }
        return text
    }

    mutating func nextBytes() -> ByteBuffer {
        let count = Int(next() % 40)
        var buffer = ByteBuffer()
        for _ in 0..<count {
            buffer.writeInteger(UInt8(truncatingIfNeeded: next()))
        }
        return buffer
    }

    mutating func nextArray<T>(_ element: (inout TestRandom) -> T) -> [T] {
        let count = Int(next() % 4)
        var result: [T] = []
        for _ in 0..<count {
            result.append(element(&self))
        }
        return result
    }
}

/// One generated message type, erased so a single test can walk all of them.
struct GeneratedMessageCase: Sendable {
    let name: String
    let apiKey: Int16?
    let validVersions: ClosedRange<Int16>
    private let roundTrip: @Sendable (Int16, inout TestRandom) throws -> RoundTripResult

    init<M: KafkaMessage>(
        name: String,
        apiKey: Int16?,
        type: M.Type,
        arbitrary: @escaping @Sendable (Int16, inout TestRandom) -> M
    ) {
        self.name = name
        self.apiKey = apiKey
        self.validVersions = M.validVersions
        self.roundTrip = { version, rng in
            let value = arbitrary(version, &rng)
            let bytes = try value.encoded(version: version)
            var reader = bytes
            let decoded = try M(from: &reader, version: version)
            let again = try decoded.encoded(version: version)
            return RoundTripResult(
                equal: decoded == value,
                sameBytes: again == bytes,
                leftover: reader.readableBytes,
                description: "\(value)"
            )
        }
    }

    func run(version: Int16, rng: inout TestRandom) throws -> RoundTripResult {
        try roundTrip(version, &rng)
    }
}

struct RoundTripResult {
    let equal: Bool
    let sameBytes: Bool
    let leftover: Int
    let description: String
}
