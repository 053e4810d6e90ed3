import Glibc
import KafkaProtocol

extension TopicRegistry {
    /// Makes the local topics what the cluster's metadata image says (Kafka's
    /// BrokerMetadataPublisher → ReplicaManager.applyDelta): topics the image no longer has, or
    /// has under another id, are deleted here; new topics and partitions get a log where this
    /// broker is a replica and a log-less entry elsewhere (its requests get
    /// NOT_LEADER_OR_FOLLOWER); every partition takes its leader, epochs, replicas and ISR
    /// from the image; topic configs follow the image's ConfigRecords.
    public func apply(image: MetadataImage) {
        changes.withLock { _ in
            let local = environment.localBroker
            let current = topics.withLock { $0 }
            for (name, topic) in current where image.topic(named: name)?.id != topic.id {
                do {
                    try deleteTopicHoldingChanges(name: name) {}
                } catch {
                    environment.logger.error("could not delete a topic the metadata removed", metadata: ["topic": "\(name)", "error": "\(error)"])
                }
            }
            let broker = brokerConfig
            for wanted in image.topicsById.values.sorted(by: { $0.name < $1.name }) {
                let configs = TopicConfigs.normalized(image.configs[.init(type: 2, name: wanted.name)] ?? [:])
                let existing = topics.withLock { $0[wanted.name] }.flatMap { $0.id == wanted.id ? $0 : nil }
                var topic = existing ?? Topic(name: wanted.name, id: wanted.id, configs: configs, broker: broker)
                var changed = existing == nil
                if topic.configs != configs {
                    topic.setConfigs(configs, broker: broker)
                    let logConfig = topic.resolved.log
                    for partition in topic.partitions {
                        partition.owner.execute { partition.log?.updateConfig(logConfig) }
                    }
                    changed = true
                }
                for partition in topic.partitions { partition.minInsyncReplicas = topic.resolved.minInsyncReplicas }
                let count = Int32(wanted.partitions.count)
                for index in 0..<count {
                    guard let registration = wanted.partitions[index] else { break }
                    let state = PartitionState(leader: registration.leader, leaderEpoch: registration.leaderEpoch,
                                               partitionEpoch: registration.partitionEpoch, replicas: registration.replicas,
                                               isr: registration.isr)
                    let hosted = registration.replicas.contains(local)
                    if Int(index) < topic.partitions.count {
                        let partition = topic.partitions[Int(index)]
                        if hosted && partition.log == nil && partition.offlineReason == nil {
                            // Newly assigned here (a reassignment): open its log; it fetches from the leader.
                            topic.partitions[Int(index)] = openPartition(topic: wanted.name, id: wanted.id, index: index,
                                                                         configs: topic.configs, state: state)
                            changed = true
                        } else if !hosted && partition.log != nil {
                            // Reassigned away: its log goes, as Kafka's StopReplica with deletion.
                            discard([partition])
                            topic.partitions[Int(index)] = Partition(topic: wanted.name, topicId: wanted.id, index: index,
                                                                     owner: partition.owner, localBroker: local, log: nil, state: state,
                                                                     replication: environment.replication)
                            environment.logger.info("partition reassigned away; its log is removed", metadata: [
                                "topic": "\(wanted.name)", "partition": "\(index)"])
                            changed = true
                        } else {
                            partition.update(state)
                        }
                        continue
                    }
                    changed = true
                    if hosted {
                        topic.partitions.append(openPartition(topic: wanted.name, id: wanted.id, index: index, configs: topic.configs,
                                                              state: state))
                    } else {
                        topic.partitions.append(Partition(topic: wanted.name, topicId: wanted.id, index: index,
                                                           owner: environment.ownerFor(wanted.name, index), localBroker: local,
                                                           log: nil, state: state, replication: environment.replication))
                    }
                }
                guard changed else { continue }
                do {
                    try persist(topic, partitionCount: Int32(topic.partitions.count))
                } catch {
                    environment.logger.error("could not record a topic from the metadata", metadata: ["topic": "\(wanted.name)", "error": "\(error)"])
                }
                if existing == nil {
                    environment.logger.info("topic from the metadata", metadata: [
                        "topic": "\(wanted.name)", "id": "\(wanted.id)", "partitions": "\(count)",
                        "hostedHere": "\(topic.partitions.filter { $0.state.replicas.contains(local) }.map(\.index))"])
                }
                let updated = topic
                topics.withLock { $0[wanted.name] = updated }
            }
        }
    }
}
