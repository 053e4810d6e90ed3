import SluiceSASL

/// How a client logs in on a SASL_PLAINTEXT listener: Kafka's `security.protocol=SASL_PLAINTEXT`
/// with `sasl.mechanism`, `sasl.username` and `sasl.password`.
public struct SaslConfig: Sendable, CustomStringConvertible {
    public enum Mechanism: String, Sendable, CaseIterable {
        case plain = "PLAIN"
        case scramSHA256 = "SCRAM-SHA-256"
        case scramSHA512 = "SCRAM-SHA-512"
    }

    public var mechanism: Mechanism
    public var username: String
    public var password: String

    public init(mechanism: Mechanism, username: String, password: String) {
        self.mechanism = mechanism
        self.username = username
        self.password = password
    }

    /// Never the password.
    public var description: String { "\(mechanism.rawValue) as \(username)" }

    func makeExchange() -> any SaslClientExchange {
        switch mechanism {
        case .plain: PlainClientExchange(username: username, password: password)
        case .scramSHA256: ScramClientExchange(mechanism: .sha256, username: username, password: password)
        case .scramSHA512: ScramClientExchange(mechanism: .sha512, username: username, password: password)
        }
    }
}
