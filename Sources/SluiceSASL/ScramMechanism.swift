import Crypto

/// SCRAM's two hash variants as Kafka numbers them (ScramMechanism: 1 SHA-256, 2 SHA-512), with
/// the arithmetic of RFC 5802 over each. Passwords are taken as their UTF-8 bytes, as Kafka's
/// ScramFormatter takes them (no SASLprep), so a credential made here verifies there.
public enum ScramMechanism: Int8, Sendable, CaseIterable, CustomStringConvertible {
    case sha256 = 1
    case sha512 = 2

    /// Kafka's bounds on a credential's iteration count.
    public static let minIterations = 4096
    public static let maxIterations = 16384

    public var name: String {
        switch self {
        case .sha256: "SCRAM-SHA-256"
        case .sha512: "SCRAM-SHA-512"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = found
    }

    public func hash(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: Array(SHA256.hash(data: data))
        case .sha512: Array(SHA512.hash(data: data))
        }
    }

    public func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
        case .sha512: Array(HMAC<SHA512>.authenticationCode(for: data, using: SymmetricKey(data: key)))
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with this HMAC, one block.
    public func saltedPassword(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        switch self {
        case .sha256: Self.hi(HMAC<SHA256>.self, password: password, salt: salt, iterations: iterations)
        case .sha512: Self.hi(HMAC<SHA512>.self, password: password, salt: salt, iterations: iterations)
        }
    }

    private static func hi<H: HashFunction>(_: HMAC<H>.Type, password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        // One keyed state copied per round: the key is hashed once, not 4,096 times.
        let keyed = HMAC<H>(key: SymmetricKey(data: Array(password.utf8)))
        var state = keyed
        state.update(data: salt + [0, 0, 0, 1])
        var previous = Array(state.finalize())
        var result = previous
        for _ in 1..<max(1, iterations) {
            var round = keyed
            round.update(data: previous)
            previous = Array(round.finalize())
            for index in result.indices { result[index] ^= previous[index] }
        }
        return result
    }
}

/// Compares secrets in time that depends on their length only.
@inlinable
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
