import Testing

@testable import SluiceCore

/// The settings that place a node in a cluster, checked together as Kafka's KafkaConfig does.
@Suite("Cluster settings")
struct ClusterSettingsTests {
    func resolve(_ pairs: [(String, String)]) throws -> ClusterSettings {
        var config = BrokerConfig()
        try config.apply(pairs)
        return try ClusterSettings.resolve(config)
    }

    /// The issue's three-broker command line, node 2.
    let combined: [(String, String)] = [
        ("node.id", "2"), ("process.roles", "broker,controller"),
        ("listeners", "PLAINTEXT://127.0.0.2:9192,CONTROLLER://127.0.0.2:9193"),
        ("controller.listener.names", "CONTROLLER"),
        ("controller.quorum.voters", "1@127.0.0.1:9193,2@127.0.0.2:9193,3@127.0.0.3:9193"),
        ("broker.session.timeout.ms", "3000"), ("broker.heartbeat.interval.ms", "500"),
    ]

    @Test func aSingleBrokerNeedsNoneOfThem() throws {
        let settings = try resolve([])
        #expect(!settings.isClustered)
        #expect(settings.interBrokerListener == ListenerEndpoint(name: "PLAINTEXT", host: "localhost", port: 9092))
        // The plain form still works, and Kafka's named form is the same listener.
        #expect(try resolve([("listeners", "127.0.0.1:0")]).interBrokerListener == ListenerEndpoint(name: "PLAINTEXT", host: "127.0.0.1", port: 0))
        #expect(try resolve([("listeners", "plaintext://:9092")]).interBrokerListener == ListenerEndpoint(name: "PLAINTEXT", host: "", port: 9092))
        #expect(try resolve([("listeners", "PLAINTEXT://[::1]:9092")]).interBrokerListener?.host == "::1")
    }

    @Test func aCombinedNodeOfTheIssuesClusterParses() throws {
        let settings = try resolve(combined)
        #expect(settings.isClustered)
        #expect(settings.nodeId == 2 && settings.roles == [.broker, .controller])
        #expect(settings.voters.map(\.description) == ["1@127.0.0.1:9193", "2@127.0.0.2:9193", "3@127.0.0.3:9193"])
        #expect(settings.interBrokerListener == ListenerEndpoint(name: "PLAINTEXT", host: "127.0.0.2", port: 9192))
        #expect(settings.controllerListener == ListenerEndpoint(name: "CONTROLLER", host: "127.0.0.2", port: 9193))
    }

    @Test func inconsistentSettingsAreRefusedWithKafkasReasons() throws {
        func refusal(_ changes: [(String, String)], base: [(String, String)]? = nil) -> String? {
            var pairs = base ?? combined
            for (key, value) in changes {
                pairs.removeAll { $0.0 == key }
                pairs.append((key, value))
            }
            do {
                _ = try resolve(pairs)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal([("node.id", "4")])?.contains("must be included in the set of voters") == true)
        #expect(refusal([("process.roles", "broker")])?.contains("must not be included in the set of voters") == true)
        #expect(refusal([("process.roles", "broker,broker")])?.contains("Duplicate role") == true)
        #expect(refusal([("process.roles", "zookeeper")])?.contains("Unknown process role") == true)
        #expect(refusal([("controller.listener.names", "")])?.contains("controller.listener.names") == true)
        #expect(refusal([("controller.listener.names", "QUORUM")])?.contains("QUORUM is not among") == true)
        #expect(refusal([("controller.quorum.voters", "1@127.0.0.1:9193,x@127.0.0.2:9193")])?.contains("{id}@{host}:{port}") == true)
        #expect(refusal([("controller.quorum.voters", "1@127.0.0.1:9193,1@127.0.0.2:9193")])?.contains("twice") == true)
        #expect(refusal([("listeners", "PLAINTEXT://a:1,PLAINTEXT://b:2,CONTROLLER://c:3")])?.contains("different name") == true)
        #expect(refusal([("process.roles", "controller")])?.contains("must only contain KRaft controller listeners") == true)
        #expect(refusal([("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")])?.contains("nonroutable") == true)
        #expect(refusal([("controller.quorum.voters", "")])?.contains("needs controller.quorum.voters") == true)
        #expect(refusal([("process.roles", "")])?.contains("process.roles must say") == true)
        #expect(refusal([]) == nil)
    }
}
