import KafkaProtocol

/// Settings every client (producer, consumer, admin) shares. Defaults follow the Java client's.
public struct KafkaClientConfig: Sendable {
    /// `bootstrap.servers`: where to find the cluster first.
    public var bootstrapServers: [BrokerAddress]
    /// `client.id`: sent in every request header (brokers log it and DescribeGroups shows it).
    public var clientId: String = "sluice-swift"
    /// `request.timeout.ms`: how long to wait for any one response.
    public var requestTimeout: Duration = .seconds(30)
    /// `socket.connection.setup.timeout.ms`
    public var connectTimeout: Duration = .seconds(10)
    /// `reconnect.backoff.ms` / `reconnect.backoff.max.ms`: waits before reconnecting to a
    /// broker that failed, doubling up to the maximum.
    public var reconnectBackoff: Duration = .milliseconds(50)
    public var reconnectBackoffMax: Duration = .seconds(1)
    /// `retry.backoff.ms`: the wait before retrying a request that failed with a retriable error.
    public var retryBackoff: Duration = .milliseconds(100)
    /// `metadata.max.age.ms`: metadata is refreshed at least this often.
    public var metadataMaxAge: Duration = .seconds(300)

    /// Highest versions to use per API, below what brokers advertise: for brokers that
    /// advertise a version they cannot parse (librdkafka 2.16's mock cluster closes the
    /// connection on the JoinGroup v6 it advertises). Empty by default.
    public var apiVersionCaps: [ApiKey: Int16] = [:]

    /// Set to log in on a SASL_PLAINTEXT listener (`security.protocol=SASL_PLAINTEXT`,
    /// `sasl.mechanism`, `sasl.username`, `sasl.password`); nil for PLAINTEXT.
    public var sasl: SaslConfig?

    public init(bootstrapServers: [BrokerAddress]) {
        self.bootstrapServers = bootstrapServers
    }

    /// From a comma-separated list: "host1:9092,host2:9092".
    public init(bootstrap: String) throws {
        guard let servers = BrokerAddress.list(bootstrap) else {
            throw KafkaClientError(kind: .invalidArgument, message: "bootstrap servers must be HOST:PORT[,HOST:PORT...], got '\(bootstrap)'")
        }
        self.init(bootstrapServers: servers)
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
