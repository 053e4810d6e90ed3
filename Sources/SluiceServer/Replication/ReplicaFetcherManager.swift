import KafkaProtocol
import Logging
import NIOCore
import SluiceClient
import SluiceCore
import Synchronization

/// Which leader each followed partition is fetched from (Kafka's ReplicaFetcherManager): after
/// every metadata image, the partitions this broker holds a replica of and does not lead are
/// grouped by leader, one `ReplicaFetcher` per leader; fetchers left with nothing stop.
final class ReplicaFetcherManager: Sendable {
    private let settings: ReplicaFetcher.Settings
    private let group: any EventLoopGroup
    private let logger: Logger
    private let interBrokerListenerName: String?
    private let brokerEpoch: @Sendable () -> Int64
    private let image = Mutex<MetadataImage>(MetadataImage())
    private let fetchers = Mutex<[Int32: ReplicaFetcher]>([:])
    private let stopped = Atomic<Bool>(false)

    init(settings: ReplicaFetcher.Settings, interBrokerListenerName: String?, brokerEpoch: @escaping @Sendable () -> Int64,
         group: any EventLoopGroup, logger: Logger) {
        self.settings = settings
        self.interBrokerListenerName = interBrokerListenerName
        self.brokerEpoch = brokerEpoch
        self.group = group
        self.logger = logger
    }

    /// Called after the registry applied `image`.
    func reconcile(image newImage: MetadataImage, registry: TopicRegistry) {
        guard !stopped.load(ordering: .relaxed) else { return }
        image.withLock { $0 = newImage }
        var byLeader: [Int32: [Partition]] = [:]
        for topic in registry.allTopics {
            for partition in topic.partitions where partition.log != nil {
                let state = partition.state
                guard state.leader >= 0, state.leader != settings.nodeId, state.replicas.contains(settings.nodeId) else { continue }
                byLeader[state.leader, default: []].append(partition)
            }
        }
        let (started, finished) = fetchers.withLock { fetchers -> ([ReplicaFetcher], [ReplicaFetcher]) in
            var started: [ReplicaFetcher] = []
            for (leader, partitions) in byLeader {
                let fetcher = fetchers[leader] ?? {
                    let made = ReplicaFetcher(leader: leader, settings: settings, endpoint: { [weak self] in self?.endpoint(of: leader) },
                                              brokerEpoch: brokerEpoch, group: group, logger: logger)
                    fetchers[leader] = made
                    started.append(made)
                    return made
                }()
                fetcher.setPartitions(partitions)
            }
            var finished: [ReplicaFetcher] = []
            for (leader, fetcher) in fetchers where byLeader[leader] == nil {
                finished.append(fetcher)
                fetchers[leader] = nil
            }
            return (started, finished)
        }
        for fetcher in started { fetcher.start() }
        for fetcher in finished { fetcher.stop() }
    }

    private func endpoint(of broker: Int32) -> BrokerAddress? {
        image.withLock { image in
            guard let registration = image.brokers[broker] else { return nil }
            return registration.interBrokerEndpoint(interBrokerListenerName).map { BrokerAddress(host: $0.host, port: $0.port) }
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        let all = fetchers.withLock { fetchers in
            defer { fetchers = [:] }
            return Array(fetchers.values)
        }
        for fetcher in all { fetcher.stop() }
    }
}
