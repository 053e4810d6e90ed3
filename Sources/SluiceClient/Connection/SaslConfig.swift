import SluiceSASL

/// How a client logs in on a SASL_PLAINTEXT listener: Kafka's `security.protocol=SASL_PLAINTEXT`
/// with `sasl.mechanism`, `sasl.username` and `sasl.password`.
public struct SaslConfig: Sendable, CustomStringConvertible {
    public typealias Mechanism = SaslMechanism

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
        guard let scram = mechanism.scram else { return PlainClientExchange(username: username, password: password) }
        return ScramClientExchange(mechanism: scram, username: username, password: password)
    }
}
