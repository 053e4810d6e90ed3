import KafkaProtocol
import Logging
import NIOCore
import SluiceClient
import SluiceCore
import Synchronization

/// Which consumer groups this broker coordinates in a cluster (Kafka's
/// GroupCoordinator.onElection/onResignation): the groups of every `__consumer_offsets`
/// partition it leads. After each metadata image, a partition this broker has come to lead is
/// read from its log on the partition's owner and loaded into the coordinator (its groups get
/// COORDINATOR_LOAD_IN_PROGRESS meanwhile); one it no longer leads is unloaded, and its groups
/// get NOT_COORDINATOR here from then on. The topic itself is created, through the controller,
/// the first time a client looks for a coordinator.
final class GroupPartitions: Sendable {
    enum Status: Equatable {
        case served
        case loading
        case elsewhere
    }

    private struct Tracked {
        var leaderEpoch: Int32
        var loaded: Bool
    }

    private let nodeId: Int32
    private let registry: TopicRegistry
    private let coordinator: GroupCoordinator
    private let logger: Logger
    private let tracked = Mutex<[Int32: Tracked]>([:])
    private let creation: InternalTopicCreation

    init(nodeId: Int32, registry: TopicRegistry, coordinator: GroupCoordinator, logger: Logger) {
        self.nodeId = nodeId
        self.registry = registry
        self.coordinator = coordinator
        self.logger = logger
        creation = InternalTopicCreation(name: OffsetsTopicStore.topic, logger: logger)
    }

    var partitionCount: Int { registry.topic(named: OffsetsTopicStore.topic)?.partitions.count ?? 0 }

    func partition(for groupId: String) -> Int32? {
        let count = partitionCount
        return count > 0 ? OffsetsTopicStore.partition(for: groupId, partitions: count) : nil
    }

    func status(of groupId: String) -> Status {
        guard let index = partition(for: groupId) else { return .elsewhere }
        return tracked.withLock { tracked in
            guard let entry = tracked[index] else { return .elsewhere }
            return entry.loaded ? .served : .loading
        }
    }

    /// Called after the registry applied a new image.
    func reconcile() {
        guard let topic = registry.topic(named: OffsetsTopicStore.topic) else { return }
        let leading = topic.partitionsLed(by: nodeId)
        let (toLoad, toUnload) = tracked.withLock { tracked -> ([(Partition, Int32)], [Int32]) in
            var load: [(Partition, Int32)] = []
            var unload: [Int32] = []
            for (index, entry) in tracked where leading[index] == nil || leading[index]?.1 != entry.leaderEpoch {
                unload.append(index)
                tracked[index] = nil
            }
            for (index, (partition, epoch)) in leading where tracked[index] == nil {
                tracked[index] = Tracked(leaderEpoch: epoch, loaded: false)
                load.append((partition, epoch))
            }
            return (load, unload)
        }
        let count = topic.partitions.count
        if !toUnload.isEmpty {
            let moved = Set(toUnload)
            coordinator.owner.execute { [coordinator] in
                coordinator.unloadGroups { moved.contains(OffsetsTopicStore.partition(for: $0, partitions: count)) }
            }
        }
        for (partition, epoch) in toLoad { load(partition, epoch: epoch, partitions: count) }
    }

    private func load(_ partition: Partition, epoch: Int32, partitions count: Int) {
        let coordinator = self.coordinator
        partition.owner.execute { [self] in
            let records: [GroupLogEntry]
            do {
                records = try OffsetsTopicStore.readPartition(partition)
            } catch {
                logger.error("could not load a partition of the offsets topic", metadata: [
                    "partition": "\(partition.index)", "error": "\(error)"])
                tracked.withLock { $0[partition.index] = nil }
                return
            }
            coordinator.owner.execute { [self] in
                // Still this broker's, at the same epoch? Otherwise a later reconcile decides.
                let current = tracked.withLock { $0[partition.index] }
                guard current?.leaderEpoch == epoch, current?.loaded == false else { return }
                let index = partition.index
                coordinator.unloadGroups { OffsetsTopicStore.partition(for: $0, partitions: count) == index }
                coordinator.loadGroups(records)
                tracked.withLock { $0[index]?.loaded = true }
                logger.info("coordinating the groups of an offsets topic partition", metadata: [
                    "partition": "\(index)", "leaderEpoch": "\(epoch)", "records": "\(records.count)"])
            }
        }
    }

    /// Asks the controller to create `__consumer_offsets`, compacted as Kafka creates it.
    func createTopicIfMissing(cluster: ClusterNode, partitions: Int, replicationFactor: Int, segmentBytes: Int) {
        creation.createIfMissing(cluster: cluster, partitions: partitions, replicationFactor: replicationFactor,
                                 configs: ["cleanup.policy": "compact", "segment.bytes": "\(segmentBytes)"])
    }
}

extension Topic {
    /// The partitions of this topic hosted and led here, by index, with their leader epochs:
    /// what an internal topic's coordinator serves.
    func partitionsLed(by nodeId: Int32) -> [Int32: (Partition, Int32)] {
        var leading: [Int32: (Partition, Int32)] = [:]
        for partition in partitions where partition.log != nil {
            let state = partition.state
            if state.leader == nodeId { leading[partition.index] = (partition, state.leaderEpoch) }
        }
        return leading
    }
}
