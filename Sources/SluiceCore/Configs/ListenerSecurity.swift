import SluiceSASL

/// How one listener authenticates its connections, resolved from the broker's settings with
/// Kafka's per-listener and per-mechanism overrides and checked at start: a SASL listener
/// offers only mechanisms Sluice implements, and PLAIN only with users to check against.
public struct ListenerSecurity: Sendable {
    public var listener: String
    public var securityProtocol: SecurityProtocol
    /// In the order the setting lists them (what SaslHandshake answers with).
    public var mechanisms: [SaslMechanism]
    /// PLAIN's users and passwords, from the listener's JAAS configuration.
    public var plainUsers: [String: String]
    /// Largest frame before authentication (`sasl.server.max.receive.size`).
    public var maxReceiveBeforeAuthentication: Int
    /// `connections.max.reauth.ms`; 0 keeps a session for the connection's life.
    public var maxReauthenticationMs: Int64
    /// `connection.failed.authentication.delay.ms`.
    public var failedAuthenticationDelayMs: Int64

    public init(listener: String, securityProtocol: SecurityProtocol, mechanisms: [SaslMechanism] = [], plainUsers: [String: String] = [:],
                maxReceiveBeforeAuthentication: Int = 524_288, maxReauthenticationMs: Int64 = 0, failedAuthenticationDelayMs: Int64 = 100) {
        self.listener = listener
        self.securityProtocol = securityProtocol
        self.mechanisms = mechanisms
        self.plainUsers = plainUsers
        self.maxReceiveBeforeAuthentication = maxReceiveBeforeAuthentication
        self.maxReauthenticationMs = maxReauthenticationMs
        self.failedAuthenticationDelayMs = failedAuthenticationDelayMs
    }

    public static func resolve(listener: String, securityProtocol: SecurityProtocol, config: BrokerConfig) throws -> ListenerSecurity {
        if securityProtocol.usesTls {
            throw ConfigError("listener \(listener) uses \(securityProtocol.rawValue): TLS listeners are not in this build of Sluice yet")
        }
        var security = ListenerSecurity(
            listener: listener, securityProtocol: securityProtocol,
            maxReceiveBeforeAuthentication: Int(config.listenerValue(listener, "sasl.server.max.receive.size") ?? "") ?? 524_288,
            maxReauthenticationMs: Int64(config.listenerValue(listener, "connections.max.reauth.ms") ?? "") ?? 0,
            failedAuthenticationDelayMs: config.long("connection.failed.authentication.delay.ms"))
        guard securityProtocol.usesSasl else { return security }
        let names = (config.listenerValue(listener, "sasl.enabled.mechanisms") ?? "").split(separator: ",")
            .map { $0.trimmingWhitespace().uppercased() }.filter { !$0.isEmpty }
        guard !names.isEmpty else {
            throw ConfigError("listener \(listener) uses \(securityProtocol.rawValue) but sasl.enabled.mechanisms is empty")
        }
        for name in names {
            guard let mechanism = SaslMechanism(rawValue: name) else {
                throw ConfigError("listener \(listener): SASL mechanism \(name) is not supported by Sluice "
                                  + "(sasl.enabled.mechanisms may list PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
            }
            security.mechanisms.append(mechanism)
            if mechanism == .plain {
                guard let text = config.jaasConfigText(listener: listener, mechanism: name) else {
                    throw ConfigError("listener \(listener) offers PLAIN but has no JAAS configuration: set "
                                      + "listener.name.\(listener.lowercased()).plain.sasl.jaas.config to "
                                      + "org.apache.kafka.common.security.plain.PlainLoginModule required user_NAME=\"PASSWORD\" ...;")
                }
                let jaas: JaasConfig
                do {
                    jaas = try JaasConfig(parsing: text)
                } catch {
                    // The text itself may hold passwords: say where, not what.
                    throw ConfigError("listener \(listener), mechanism PLAIN: \(error)")
                }
                security.plainUsers = jaas.plainUsers
            }
        }
        return security
    }
}
