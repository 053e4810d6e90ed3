import KafkaProtocol
import Logging
import NIOCore
import SluiceCore
import Synchronization

/// The parts of a broker that exist only in a cluster: its place in the metadata quorum, its
/// membership with the active controller, requests forwarded there, and producer ids drawn in
/// blocks from the controller so that no two brokers ever hand out the same one.
public final class ClusterNode: Sendable {
    public let settings: ClusterSettings
    public let quorum: QuorumHost
    let controller: ControllerClient
    let lifecycle: BrokerLifecycle?
    /// Fetches the partitions this broker follows (brokers only).
    let fetchers: ReplicaFetcherManager?
    /// The groups this broker coordinates: those of the __consumer_offsets partitions it leads.
    let groupPartitions: GroupPartitions?
    /// The transactional ids this broker coordinates: those of the __transaction_state
    /// partitions it leads.
    let transactionPartitions: TransactionPartitions?
    let highWatermarks: HighWatermarkCheckpointer?
    private let producerIdBlock = Mutex<(next: Int64, end: Int64)>((0, 0))

    init(settings: ClusterSettings, quorum: QuorumHost, controller: ControllerClient, lifecycle: BrokerLifecycle?,
         fetchers: ReplicaFetcherManager?, groupPartitions: GroupPartitions?, transactionPartitions: TransactionPartitions?,
         highWatermarks: HighWatermarkCheckpointer?) {
        self.fetchers = fetchers
        self.transactionPartitions = transactionPartitions
        self.highWatermarks = highWatermarks
        self.groupPartitions = groupPartitions
        self.settings = settings
        self.quorum = quorum
        self.controller = controller
        self.lifecycle = lifecycle
    }

    /// The broker that coordinates `groupId`: the leader of its partition of __consumer_offsets
    /// (nil while the topic does not exist or the partition has no live leader).
    func groupCoordinator(of groupId: String, image: MetadataImage) -> BrokerRegistration? {
        guard let topic = image.topic(named: OffsetsTopicStore.topic), !topic.partitions.isEmpty else { return nil }
        let index = OffsetsTopicStore.partition(for: groupId, partitions: topic.partitions.count)
        guard let leader = topic.partitions[index]?.leader, let broker = image.brokers[leader], !broker.fenced else { return nil }
        return broker
    }

    /// The broker that coordinates `transactionalId`: the leader of its partition of
    /// __transaction_state (nil while the topic does not exist or the partition has no live leader).
    func transactionCoordinator(of transactionalId: String, image: MetadataImage) -> BrokerRegistration? {
        guard let topic = image.topic(named: TransactionStateTopicStore.topic), !topic.partitions.isEmpty else { return nil }
        let index = TransactionStateTopicStore.partition(for: transactionalId, partitions: topic.partitions.count)
        guard let leader = topic.partitions[index]?.leader, let broker = image.brokers[leader], !broker.fenced else { return nil }
        return broker
    }

    /// The controller Metadata and DescribeCluster name: the active controller when it is also a
    /// live broker, else this broker when it is live (it forwards what it gets to the controller),
    /// else any live broker. Kafka names a random live broker and forwards; naming the active
    /// controller saves a hop, and a node that is between leaders names itself rather than a
    /// leader that may be gone.
    func controllerIdForClients(_ status: QuorumStatus) -> Int32 {
        let live = status.image.activeBrokers
        if status.role == .leader || status.role == .follower, let leader = status.leaderId,
           live.contains(where: { $0.id == leader }) {
            return leader
        }
        if live.contains(where: { $0.id == settings.nodeId }) { return settings.nodeId }
        return live.first?.id ?? -1
    }

    /// A producer id from this broker's block; a new block from the controller when it runs out.
    func nextProducerId() async throws -> Int64 {
        while true {
            if let id = producerIdBlock.withLock({ block -> Int64? in
                guard block.next < block.end else { return nil }
                defer { block.next += 1 }
                return block.next
            }) {
                return id
            }
            let epoch = lifecycle?.brokerEpoch ?? -1
            guard epoch >= 0 else { throw ControllerClient.Unavailable(description: "this broker is not registered with the controller yet") }
            let response = try await controller.send(AllocateProducerIdsRequest(brokerId: settings.nodeId, brokerEpoch: epoch), version: 0,
                                                     within: .seconds(10)) {
                $0.errorCode == KafkaErrorCode.notController.rawValue
            }
            guard response.errorCode == 0, response.producerIdLen > 0 else {
                throw ControllerClient.Unavailable(description: "AllocateProducerIds: \(KafkaErrorCode(rawValue: response.errorCode).name)")
            }
            producerIdBlock.withLock { block in
                if block.next >= block.end { block = (response.producerIdStart, response.producerIdStart + Int64(response.producerIdLen)) }
            }
        }
    }

    /// Waits (up to `timeout`) until this broker's image satisfies `condition`: a forwarded
    /// CreateTopics is answered once this broker can serve the topic, so the client's next
    /// Metadata request finds it.
    func waitForImage(timeout: Duration, _ condition: @Sendable (MetadataImage) -> Bool) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(quorum.status.image) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
