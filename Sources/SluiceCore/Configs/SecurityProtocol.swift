/// Kafka's security protocols, by the names `listener.security.protocol.map` uses.
public enum SecurityProtocol: String, Sendable, Hashable, CaseIterable {
    case plaintext = "PLAINTEXT"
    case ssl = "SSL"
    case saslPlaintext = "SASL_PLAINTEXT"
    case saslSsl = "SASL_SSL"

    public var usesSasl: Bool { self == .saslPlaintext || self == .saslSsl }
    public var usesTls: Bool { self == .ssl || self == .saslSsl }

    /// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`), with Kafka's messages.
    public static func parseMap(_ text: String) throws -> [String: SecurityProtocol] {
        var map: [String: SecurityProtocol] = [:]
        for raw in text.split(separator: ",") {
            let item = raw.trimmingWhitespace()
            guard !item.isEmpty else { continue }
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ConfigError("Invalid value \(text) for configuration listener.security.protocol.map: "
                                  + "Map entry '\(item)' is improperly formatted")
            }
            guard let value = SecurityProtocol(rawValue: String(parts[1]).uppercased()) else {
                throw ConfigError("Invalid value \(text) for configuration listener.security.protocol.map: "
                                  + "No enum constant for security protocol \(parts[1])")
            }
            map[String(parts[0]).uppercased()] = value
        }
        return map
    }
}
