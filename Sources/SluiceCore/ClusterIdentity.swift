import KafkaProtocol

/// The cluster id and node id, kept in `meta.properties` in the data directory (as Kafka does)
/// so they survive restarts.
public struct ClusterIdentity: Sendable {
    public let clusterId: String
    public let nodeId: Int32

    public static func loadOrCreate(dataDirectory: String, config: BrokerConfig) throws -> ClusterIdentity {
        let path = dataDirectory + "/meta.properties"
        if let text = readText(path) {
            let pairs = try BrokerConfig.parseProperties(text)
            let values = Dictionary(pairs, uniquingKeysWith: { _, last in last })
            if let clusterId = values["cluster.id"], let node = values["node.id"].flatMap({ Int32($0) }) {
                let configured = Int32(config.int("node.id"))
                if configured != node {
                    throw ConfigError("node.id \(configured) does not match \(node) stored in \(path)")
                }
                // As Kafka refuses a log directory formatted for another cluster: joining with
                // it would mix two clusters' data.
                let configuredCluster = config.string("cluster.id")
                if !configuredCluster.isEmpty && configuredCluster != clusterId {
                    throw ConfigError("Invalid cluster.id in: \(path). Expected \(configuredCluster), but read \(clusterId). "
                                      + "The data directory belongs to another cluster.")
                }
                return ClusterIdentity(clusterId: clusterId, nodeId: node)
            }
        }
        let configured = config.string("cluster.id")
        let identity = ClusterIdentity(clusterId: configured.isEmpty ? KafkaUUID.random().description : configured,
                                       nodeId: Int32(config.int("node.id")))
        try writeTextAtomically(path, "version=1\ncluster.id=\(identity.clusterId)\nnode.id=\(identity.nodeId)\n")
        return identity
    }
}
