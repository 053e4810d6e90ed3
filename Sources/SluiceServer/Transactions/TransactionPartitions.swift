import KafkaProtocol
import Logging
import NIOCore
import SluiceCore
import SluiceStorage
import Synchronization

/// Which transactional ids this broker coordinates in a cluster (Kafka's
/// TransactionCoordinator.onElection/onResignation): those of every `__transaction_state`
/// partition it leads, one `TransactionCoordinator` per partition with the partition's leader
/// epoch as its coordinator epoch. After each metadata image, a partition this broker has come
/// to lead is read on its owner and a coordinator started from its records (which goes on
/// with the markers of transactions found deciding); its ids get COORDINATOR_LOAD_IN_PROGRESS
/// until then. A partition it no longer leads (or leads under a new epoch) has its coordinator
/// stopped; its ids get NOT_COORDINATOR here from then on.
final class TransactionPartitions: Sendable {
    enum Lookup {
        case served(TransactionCoordinator)
        case loading
        case elsewhere
    }

    /// Makes the coordinator of a partition this broker has come to lead, from its records.
    typealias Factory = @Sendable (_ partition: Partition, _ leaderEpoch: Int32, _ records: [(String, TransactionMetadata?)]) throws
        -> TransactionCoordinator

    private struct Tracked {
        var leaderEpoch: Int32
        var coordinator: TransactionCoordinator?
    }

    private let nodeId: Int32
    private let registry: TopicRegistry
    /// Where every coordinator of this broker runs.
    let owner: EventLoopOwner
    private let factory: Factory
    /// How this broker's partitions check a transactional write against a coordinator elsewhere.
    let verifier: TransactionVerifier
    private let logger: Logger
    private let tracked = Mutex<[Int32: Tracked]>([:])
    private let creation: InternalTopicCreation

    init(nodeId: Int32, registry: TopicRegistry, owner: EventLoopOwner, verifier: TransactionVerifier, logger: Logger,
         factory: @escaping Factory) {
        self.verifier = verifier
        self.nodeId = nodeId
        self.registry = registry
        self.owner = owner
        self.factory = factory
        self.logger = logger
        creation = InternalTopicCreation(name: TransactionStateTopicStore.topic, logger: logger)
    }

    func partition(for transactionalId: String) -> Int32? {
        let count = registry.topic(named: TransactionStateTopicStore.topic)?.partitions.count ?? 0
        return count > 0 ? TransactionStateTopicStore.partition(for: transactionalId, partitions: count) : nil
    }

    func lookup(_ transactionalId: String) -> Lookup {
        guard let index = partition(for: transactionalId) else { return .elsewhere }
        return tracked.withLock { tracked in
            guard let entry = tracked[index] else { return .elsewhere }
            return entry.coordinator.map { .served($0) } ?? .loading
        }
    }

    /// Every coordinator running here (ListTransactions answers for all of them).
    var coordinators: [TransactionCoordinator] { tracked.withLock { $0.values.compactMap(\.coordinator) } }

    /// Called after the registry applied a new image.
    func reconcile() {
        guard let topic = registry.topic(named: TransactionStateTopicStore.topic) else { return }
        let leading = topic.partitionsLed(by: nodeId)
        let (toLoad, toStop) = tracked.withLock { tracked -> ([(Partition, Int32)], [TransactionCoordinator]) in
            var load: [(Partition, Int32)] = []
            var stop: [TransactionCoordinator] = []
            for (index, entry) in tracked where leading[index] == nil || leading[index]?.1 != entry.leaderEpoch {
                if let coordinator = entry.coordinator { stop.append(coordinator) }
                tracked[index] = nil
            }
            for (index, (partition, epoch)) in leading where tracked[index] == nil {
                tracked[index] = Tracked(leaderEpoch: epoch, coordinator: nil)
                load.append((partition, epoch))
            }
            return (load, stop)
        }
        if !toStop.isEmpty {
            owner.execute { for coordinator in toStop { coordinator.stop() } }
        }
        for (partition, epoch) in toLoad { load(partition, epoch: epoch) }
    }

    private func load(_ partition: Partition, epoch: Int32) {
        partition.owner.execute { [self] in
            let records: [(String, TransactionMetadata?)]
            do {
                records = try TransactionStateTopicStore.readPartition(partition)
            } catch {
                logger.error("could not load a partition of the transaction state topic", metadata: [
                    "partition": "\(partition.index)", "error": "\(error)"])
                tracked.withLock { $0[partition.index] = nil }
                return
            }
            let loaded = OwnerBound(records)
            owner.execute { [self] in
                // Still this broker's, at the same epoch? Otherwise a later reconcile decides.
                let current = tracked.withLock { $0[partition.index] }
                guard current?.leaderEpoch == epoch, current?.coordinator == nil else { return }
                let coordinator: TransactionCoordinator
                do {
                    coordinator = try factory(partition, epoch, loaded.value)
                } catch {
                    logger.error("could not start a transaction coordinator", metadata: ["partition": "\(partition.index)", "error": "\(error)"])
                    tracked.withLock { $0[partition.index] = nil }
                    return
                }
                coordinator.start()
                let kept = tracked.withLock { tracked -> Bool in
                    guard tracked[partition.index]?.leaderEpoch == epoch else { return false }
                    tracked[partition.index]?.coordinator = coordinator
                    return true
                }
                guard kept else { return coordinator.stop() }
                logger.info("coordinating the transactional ids of a transaction state partition", metadata: [
                    "partition": "\(partition.index)", "coordinatorEpoch": "\(epoch)", "records": "\(loaded.value.count)"])
            }
        }
    }

    /// Asks the controller to create `__transaction_state`: compacted, with
    /// transaction.state.log.min.isr in-sync replicas behind every write.
    func createTopicIfMissing(cluster: ClusterNode, config: BrokerConfig) {
        creation.createIfMissing(cluster: cluster, partitions: config.int("transaction.state.log.num.partitions"),
                                 replicationFactor: config.int("transaction.state.log.replication.factor"),
                                 minInsyncReplicas: config.int("transaction.state.log.min.isr"),
                                 configs: ["cleanup.policy": "compact",
                                           "segment.bytes": "\(config.int("transaction.state.log.segment.bytes"))",
                                           "unclean.leader.election.enable": "false"])
    }
}
