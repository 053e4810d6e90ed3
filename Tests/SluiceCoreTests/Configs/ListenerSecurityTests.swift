import Testing

@testable import SluiceCore

/// Listener security as Kafka configures it: the protocol map, listener- and mechanism-prefixed
/// settings, and what a broker refuses to start with.
@Suite("Listener security")
struct ListenerSecurityTests {
    func config(_ pairs: [(String, String)]) throws -> BrokerConfig {
        var config = BrokerConfig()
        try config.apply(pairs)
        return config
    }

    static let jaas = #"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#

    @Test func listenersGetTheirProtocolsAndTheInterBrokerOneIsPlaintext() throws {
        let settings = try ClusterSettings.resolve(config([("listeners", "PLAINTEXT://:9092,SASL_PLAINTEXT://:9093")]))
        #expect(settings.securityProtocol(of: "SASL_PLAINTEXT") == .saslPlaintext)
        #expect(settings.interBrokerListener?.name == "PLAINTEXT")
        let renamed = try ClusterSettings.resolve(config([
            ("listeners", "INTERNAL://:9092,EXTERNAL://:9093"),
            ("listener.security.protocol.map", "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"),
            ("inter.broker.listener.name", "internal"),
        ]))
        #expect(renamed.interBrokerListener?.name == "INTERNAL")
        #expect(renamed.securityProtocol(of: "EXTERNAL") == .saslPlaintext)
    }

    @Test func unmappedOrMisnamedListenersAreRefused() throws {
        #expect(throws: ConfigError.self) { try ClusterSettings.resolve(config([("listeners", "EXTERNAL://:9093")])) }
        #expect(throws: ConfigError.self) {
            try ClusterSettings.resolve(config([("listeners", "PLAINTEXT://:9092"), ("inter.broker.listener.name", "NOPE")]))
        }
        #expect(throws: ConfigError.self) {
            try ClusterSettings.resolve(config([("listeners", "A://:1"), ("listener.security.protocol.map", "A:KERBEROS")]))
        }
    }

    @Test func plainUsersComeFromTheMostSpecificJaasSetting() throws {
        let config = try config([
            ("listeners", "SASL_PLAINTEXT://:9093"), ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
            ("sasl.jaas.config", #"org.apache.kafka.common.security.plain.PlainLoginModule required user_bob="b";"#),
            ("listener.name.sasl_plaintext.plain.sasl.jaas.config", Self.jaas),
            ("listener.name.sasl_plaintext.connections.max.reauth.ms", "60000"),
        ])
        let security = try ListenerSecurity.resolve(listener: "SASL_PLAINTEXT", securityProtocol: .saslPlaintext, config: config)
        #expect(security.mechanisms == [.plain, .scramSHA512])
        #expect(security.plainUsers == ["alice": "alice-secret"])
        #expect(security.maxReauthenticationMs == 60000)
        // Another listener falls back to the broker-wide settings.
        let other = try ListenerSecurity.resolve(listener: "OTHER", securityProtocol: .saslPlaintext, config: config)
        #expect(other.plainUsers == ["bob": "b"])
        #expect(other.maxReauthenticationMs == 0)
    }

    @Test func aSaslListenerNeedsMechanismsSluiceHasAndUsersForPlain() throws {
        for pairs: [(String, String)] in [
            [("sasl.enabled.mechanisms", "GSSAPI")],
            [("sasl.enabled.mechanisms", "PLAIN")],
            [("sasl.enabled.mechanisms", "PLAIN"), ("sasl.jaas.config", "not jaas at all")],
        ] {
            let config = try config(pairs)
            let error = #expect(throws: ConfigError.self) {
                try ListenerSecurity.resolve(listener: "SASL_PLAINTEXT", securityProtocol: .saslPlaintext, config: config)
            }
            #expect(error?.description.contains("secret") == false)
        }
        // SCRAM alone needs no JAAS: its users live in the metadata.
        let scram = try ListenerSecurity.resolve(listener: "SASL_PLAINTEXT", securityProtocol: .saslPlaintext,
                                                 config: config([("sasl.enabled.mechanisms", "SCRAM-SHA-256")]))
        #expect(scram.mechanisms == [.scramSHA256])
    }

    @Test func listenerPrefixedNamesAreSettingsAndOthersAreNot() throws {
        #expect(BrokerSettings.named("listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config")?.name == "sasl.jaas.config")
        #expect(BrokerSettings.named("listener.name.external.sasl.enabled.mechanisms")?.name == "sasl.enabled.mechanisms")
        #expect(BrokerSettings.named("listener.name.external.log.retention.ms") == nil)
        #expect(BrokerSettings.named("listener.name..sasl.jaas.config") == nil)
    }

    @Test func aJaasValueMaySpanContinuationLines() throws {
        let pairs = try BrokerConfig.parseProperties("""
            # a comment \\
            listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
                user_alice="alice-secret" \\
                user_bob="bob-secret";
            num.partitions=3
            """)
        #expect(pairs.count == 2)
        #expect(pairs[0].1 == #"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";"#)
        #expect(pairs[1] == ("num.partitions", "3"))
    }

    @Test func describeConfigsNeverShowsAJaasValue() throws {
        let config = try config([("sasl.jaas.config", Self.jaas)])
        let entry = try #require(ConfigDescriptions.broker(config, keys: ["sasl.jaas.config"]).first)
        #expect(entry.isSensitive)
        #expect(entry.value == nil)
        #expect(entry.synonyms.allSatisfy { $0.value == nil })
    }
}
