import ArgumentParser
import Glibc
import KafkaProtocol
import SluiceClient

/// `sluice cluster describe`: the brokers (rack, live or fenced), the metadata quorum's
/// leader and epoch, and how far each voter and observer trails it, asked of any broker.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cluster", abstract: "Look at a cluster.",
                                                    subcommands: [Describe.self])

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Brokers, racks, fencing, and the metadata quorum's leader, epoch and lag.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let cluster = KafkaCluster(config: try connection.clientConfig(), logger: quietLogger())
            defer { Task { await cluster.close() } }
            let metadata = try await cluster.refreshMetadata(topics: nil)
            let connectionToAny = try await cluster.anyConnection()
            let (described, _) = try await connectionToAny.send(DescribeClusterRequest(), versions: 0...1, timeout: .seconds(10))
            print("cluster \(described.clusterId) controller \(described.controllerId)")
            let live = Dictionary(described.brokers.map { ($0.brokerId, $0) }, uniquingKeysWith: { first, _ in first })
            var known = Set(live.keys)
            for topic in metadata.topics { for partition in topic.partitions { known.formUnion(partition.replicaNodes) } }
            let quorum = connectionToAny.brokerVersions[.describeQuorum] == nil ? nil
                : try await connectionToAny.send(DescribeQuorumRequest(topics: [.init(topicName: "__cluster_metadata", partitions: [.init()])]),
                                                 versions: 0...1, timeout: .seconds(10)).0
            let partition = quorum?.topics.first?.partitions.first
            print("brokers:")
            for id in known.sorted() {
                if let broker = live[id] {
                    print("  \(id)  \(broker.host):\(broker.port)  rack \(broker.rack ?? "-")  live")
                } else {
                    print("  \(id)  fenced (holds replicas, not live)")
                }
            }
            let partitions = metadata.topics.flatMap(\.partitions)
            let offline = partitions.filter { $0.leaderId < 0 }.count
            let underReplicated = partitions.filter { $0.leaderId >= 0 && $0.isrNodes.count < $0.replicaNodes.count }.count
            print("partitions: \(partitions.count)  under-replicated \(underReplicated)  offline \(offline)")
            guard let partition else {
                print("quorum: none (a single broker, its own controller)")
                return
            }
            guard partition.errorCode == 0 else {
                print("quorum: \(KafkaErrorCode(rawValue: partition.errorCode).name) (leader \(partition.leaderId), epoch \(partition.leaderEpoch))")
                return
            }
            print("quorum: leader \(partition.leaderId) epoch \(partition.leaderEpoch) high watermark \(partition.highWatermark)")
            var clock = timespec()
            clock_gettime(CLOCK_REALTIME, &clock)
            let now = Int64(clock.tv_sec) * 1000 + Int64(clock.tv_nsec) / 1_000_000
            func line(_ kind: String, _ replica: DescribeQuorumResponse.ReplicaState) -> String {
                let lag = replica.logEndOffset < 0 ? "unknown" : "\(max(0, partition.highWatermark - replica.logEndOffset))"
                let fetched = replica.lastFetchTimestamp < 0 ? "never" : "\(max(0, now - replica.lastFetchTimestamp)) ms ago"
                return "  \(kind) \(replica.replicaId)  log end \(replica.logEndOffset)  lag \(lag)  last fetch \(fetched)"
                    + (replica.replicaId == partition.leaderId ? "  (leader)" : "")
            }
            for voter in partition.currentVoters { print(line("voter", voter)) }
            for observer in partition.observers { print(line("observer", observer)) }
        }
    }
}

/// `sluice format`: gives a data directory its cluster and node ids before the first start (as
/// Kafka's `kafka-storage format`), or, with no directory, prints a new cluster id to use.
