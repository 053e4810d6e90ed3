/// The SASL mechanisms Sluice speaks, by the names SaslHandshake and `sasl.mechanism` use; the
/// client's configuration and a listener's `sasl.enabled.mechanisms` both name them.
public enum SaslMechanism: String, Sendable, CaseIterable, CustomStringConvertible {
    case plain = "PLAIN"
    case scramSHA256 = "SCRAM-SHA-256"
    case scramSHA512 = "SCRAM-SHA-512"

    /// The SCRAM hash, nil for PLAIN.
    public var scram: ScramMechanism? {
        switch self {
        case .plain: nil
        case .scramSHA256: .sha256
        case .scramSHA512: .sha512
        }
    }

    public init(scram: ScramMechanism) {
        self = scram == .sha256 ? .scramSHA256 : .scramSHA512
    }

    public var description: String { rawValue }
}
