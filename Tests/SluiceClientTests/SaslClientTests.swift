import KafkaProtocol
import NIOCore
import SluiceClient
import Testing

/// The client logging in on a broker's SASL_PLAINTEXT listener with each mechanism, users made
/// with the admin calls, and what a wrong password gets.
@Suite("SASL against a real broker")
struct SaslClientTests {
    static let settings: [(String, String)] = [
        ("listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"),
        ("listener.name.sasl_plaintext.plain.sasl.jaas.config",
         #"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#),
    ]

    static func saslConfig(_ broker: BrokerFixture, _ sasl: SaslConfig) throws -> KafkaClientConfig {
        let port = try #require(broker.server.listenerAddresses.first { $0.name == "SASL_PLAINTEXT" }?.address.port)
        var config = try KafkaClientConfig(bootstrap: "127.0.0.1:\(port)")
        config.requestTimeout = .seconds(10)
        config.sasl = sasl
        return config
    }

    @Test(.timeLimit(.minutes(2)))
    func eachMechanismProducesAndConsumes() async throws {
        let broker = try BrokerFixture(settings: Self.settings)
        let admin = KafkaAdmin(config: try broker.clientConfig())
        try await admin.createTopic(NewTopic(name: "logged-in", partitions: 1))
        try await admin.setScramCredential(user: "swift", mechanism: .scramSHA256, password: "swift-secret")
        try await admin.setScramCredential(user: "swift", mechanism: .scramSHA512, password: "swift-secret", iterations: 8192)
        let described = try await admin.describeUserScramCredentials(users: ["swift"])
        #expect(Set(described["swift"] ?? []) == [.init(mechanism: .scramSHA256, iterations: 4096),
                                                  .init(mechanism: .scramSHA512, iterations: 8192)])
        await admin.close()

        let logins = [SaslConfig(mechanism: .plain, username: "alice", password: "alice-secret"),
                      SaslConfig(mechanism: .scramSHA256, username: "swift", password: "swift-secret"),
                      SaslConfig(mechanism: .scramSHA512, username: "swift", password: "swift-secret")]
        for login in logins {
            let producer = try KafkaProducer(config: KafkaProducerConfig(client: try Self.saslConfig(broker, login)))
            _ = try await producer.send(ProducerRecord(topic: "logged-in", value: login.mechanism.rawValue))
            await producer.close()
        }
        var consumerConfig = KafkaConsumerConfig(client: try Self.saslConfig(broker, logins[2]))
        consumerConfig.autoOffsetReset = .earliest
        let consumer = KafkaConsumer(config: consumerConfig)
        try await consumer.assign(topic: "logged-in")
        var iterator = consumer.records.makeAsyncIterator()
        var values: [String] = []
        for _ in logins {
            let record = try #require(await iterator.next())
            values.append(String(buffer: record.value ?? ByteBuffer()))
        }
        #expect(values == logins.map(\.mechanism.rawValue))
        await consumer.close()
    }

    @Test(.timeLimit(.minutes(1)))
    func aWrongPasswordIsRefusedWithKafkasCode() async throws {
        let broker = try BrokerFixture(settings: Self.settings)
        let setup = KafkaAdmin(config: try broker.clientConfig())
        try await setup.setScramCredential(user: "swift", mechanism: .scramSHA256, password: "swift-secret")
        await setup.close()
        for login in [SaslConfig(mechanism: .scramSHA256, username: "swift", password: "wrong"),
                      SaslConfig(mechanism: .scramSHA256, username: "nobody", password: "swift-secret"),
                      SaslConfig(mechanism: .plain, username: "alice", password: "wrong")] {
            let admin = KafkaAdmin(config: try Self.saslConfig(broker, login))
            let error = await #expect(throws: KafkaClientError.self) { _ = try await admin.describeUserScramCredentials() }
            #expect(error?.code == .saslAuthenticationFailed, "\(login)")
            #expect(error?.isRetriable == false)
            await admin.close()
        }
    }
}
