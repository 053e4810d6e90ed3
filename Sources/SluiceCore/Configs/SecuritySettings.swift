/// The broker's security settings, by Kafka's names. Most of them can also be set for one
/// listener as `listener.name.<listener>.<setting>` (Kafka's ListenerName.configPrefix), and
/// `sasl.jaas.config` for one listener and mechanism as
/// `listener.name.<listener>.<mechanism>.sasl.jaas.config`.
public enum SecuritySettings {
    public static let all: [BrokerSetting] = [
        .init(key: ConfigKey("listener.security.protocol.map", .string,
                             "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
              help: "NAME:PROTOCOL pairs: the security protocol (PLAINTEXT or SASL_PLAINTEXT) of each listener name; a controller listener left out is PLAINTEXT.",
              dynamic: false),
        .init(key: ConfigKey("inter.broker.listener.name", .string, nil),
              help: "The listener brokers use to reach each other (replication, transaction markers); unset: the one whose protocol is security.inter.broker.protocol.",
              dynamic: false),
        .init(key: ConfigKey("security.inter.broker.protocol", .string, "PLAINTEXT", .oneOf(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])),
              help: "Picks the inter-broker listener by protocol when inter.broker.listener.name is unset.", dynamic: false),
        .init(key: ConfigKey("sasl.enabled.mechanisms", .list, "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
              help: "SASL mechanisms a SASL listener offers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (Kafka's default, GSSAPI, is not supported).",
              dynamic: false),
        .init(key: ConfigKey("sasl.mechanism.inter.broker.protocol", .string, "PLAIN"),
              help: "The mechanism a broker logs in to another broker with, when the inter-broker listener uses SASL.", dynamic: false),
        .init(key: ConfigKey("sasl.jaas.config", .password, nil),
              help: "JAAS login entries in Kafka's syntax; a PLAIN listener's users are its user_NAME=\"password\" options. Usually set per listener and mechanism.",
              dynamic: false),
        .init(key: ConfigKey("sasl.server.max.receive.size", .int, "524288", .atLeast(1)),
              help: "Largest request a connection may send before it has authenticated; a larger one closes it.", dynamic: false),
        .init(key: ConfigKey("connections.max.reauth.ms", .long, "0", .atLeast(0)),
              help: "How long an authenticated SASL session lasts before the client must re-authenticate (KIP-368); 0: for ever.",
              dynamic: false),
        .init(key: ConfigKey("connection.failed.authentication.delay.ms", .int, "100", .atLeast(0)),
              help: "How long a failed authentication waits before its answer and the close, which slows password guessing.",
              dynamic: false),
    ]

    /// Settings that `listener.name.<listener>.` may prefix.
    static let perListener: Set<String> = [
        "sasl.enabled.mechanisms", "sasl.jaas.config", "sasl.server.max.receive.size", "connections.max.reauth.ms",
    ]

    /// Settings that `listener.name.<listener>.<mechanism>.` may prefix.
    static let perMechanism: Set<String> = ["sasl.jaas.config"]

    /// The setting a listener-prefixed name overrides (`listener.name.sasl_plaintext.plain.sasl.jaas.config`
    /// → sasl.jaas.config), nil when the name is not one.
    static func overridden(_ name: String) -> BrokerSetting? {
        let prefix = "listener.name."
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), dot != rest.startIndex else { return nil }
        let setting = rest[rest.index(after: dot)...]
        if perListener.contains(String(setting)) { return BrokerSettings.named(String(setting)) }
        // A mechanism name holds dashes and letters, never dots.
        if let mechanismDot = setting.firstIndex(of: "."), mechanismDot != setting.startIndex {
            let inner = String(setting[setting.index(after: mechanismDot)...])
            if perMechanism.contains(inner) { return BrokerSettings.named(inner) }
        }
        return nil
    }
}

extension BrokerConfig {
    /// A setting for one listener: `listener.name.<listener>.<name>` when set, else `name`.
    public func listenerValue(_ listener: String, _ name: String) -> String? {
        value("listener.name.\(listener.lowercased()).\(name)") ?? value(name)
    }

    /// The JAAS configuration of one listener and mechanism, most specific first.
    public func jaasConfigText(listener: String, mechanism: String) -> String? {
        value("listener.name.\(listener.lowercased()).\(mechanism.lowercased()).sasl.jaas.config")
            ?? listenerValue(listener, "sasl.jaas.config")
    }
}
