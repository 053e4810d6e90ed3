import KafkaProtocol
import NIOCore
import Testing

@testable import SluiceCore

/// The metadata image rebuilt from records, as every node of a cluster rebuilds it.
@Suite struct MetadataImageTests {
    let topicId = KafkaUUID(high: 1, low: 2)

    func register(_ id: Int32, epoch: Int64, rack: String? = nil) -> RegisterBrokerRecord {
        RegisterBrokerRecord(brokerId: id, incarnationId: KafkaUUID(high: UInt64(id), low: UInt64(epoch)), brokerEpoch: epoch,
                             endPoints: [.init(name: "PLAINTEXT", host: "127.0.0.\(id)", port: 9092, securityProtocol: 0)],
                             rack: rack, fenced: true)
    }

    /// Records go through Kafka's frame first, as they come out of the metadata log.
    func apply(_ records: [(any KafkaMessage, MetadataRecordType, Int16)], to image: inout MetadataImage) throws {
        for (record, type, version) in records {
            var buffer = ByteBufferAllocator().buffer(capacity: 128)
            try MetadataRecordFrame.write(record, type: type, version: version, to: &buffer)
            let framed = try MetadataRecordFrame.read(from: &buffer)
            try image.apply(framed.record, type: framed.type)
        }
    }

    @Test func brokersRegisterAreUnfencedAndFencedByTheirCurrentEpochOnly() throws {
        var image = MetadataImage()
        try apply([(register(1, epoch: 10, rack: "a"), .registerBroker, 3), (register(2, epoch: 11), .registerBroker, 3),
                   (UnfenceBrokerRecord(id: 1, epoch: 10), .unfenceBroker, 0),
                   (UnfenceBrokerRecord(id: 2, epoch: 11), .unfenceBroker, 0)], to: &image)
        #expect(image.activeBrokers.map(\.id) == [1, 2])
        #expect(image.brokers[1]?.rack == "a")
        #expect(image.brokers[1]?.listeners == [ListenerEndpoint(name: "PLAINTEXT", host: "127.0.0.1", port: 9092)])

        // Broker 2 registers again (a restart): a fence for its old epoch changes nothing.
        try apply([(register(2, epoch: 20), .registerBroker, 3), (UnfenceBrokerRecord(id: 2, epoch: 20), .unfenceBroker, 0),
                   (FenceBrokerRecord(id: 2, epoch: 11), .fenceBroker, 0)], to: &image)
        #expect(image.brokers[2]?.fenced == false && image.brokers[2]?.epoch == 20)
        try apply([(BrokerRegistrationChangeRecord(brokerId: 2, brokerEpoch: 20, fenced: 1), .brokerRegistrationChange, 1)], to: &image)
        #expect(image.activeBrokers.map(\.id) == [1])
        try apply([(UnregisterBrokerRecord(brokerId: 2, brokerEpoch: 20), .unregisterBroker, 0)], to: &image)
        #expect(image.brokers[2] == nil)
        #expect(throws: MetadataImageError.self) {
            try image.apply(FenceBrokerRecord(id: 9, epoch: 1), type: .fenceBroker)
        }
    }

    @Test func topicsPartitionsAndTheirChanges() throws {
        var image = MetadataImage()
        try apply([(TopicRecord(name: "orders", topicId: topicId), .topic, 0),
                   (PartitionRecord(partitionId: 0, topicId: topicId, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1,
                                    leaderEpoch: 0, partitionEpoch: 0), .partition, 0),
                   (ConfigRecord(resourceType: 2, resourceName: "orders", name: "retention.ms", value: "1000"), .config, 0)],
                  to: &image)
        #expect(image.topic(named: "orders")?.partitions[0]?.leader == 1)
        #expect(image.configs[.init(type: 2, name: "orders")] == ["retention.ms": "1000"])

        // The ISR shrinks: leader epoch stays, partition epoch moves.
        try apply([(PartitionChangeRecord(partitionId: 0, topicId: topicId, isr: [1, 2]), .partitionChange, 0)], to: &image)
        var partition = try #require(image.topic(named: "orders")?.partitions[0])
        #expect(partition.isr == [1, 2] && partition.leader == 1 && partition.leaderEpoch == 0 && partition.partitionEpoch == 1)
        // A new leader: both move.
        try apply([(PartitionChangeRecord(partitionId: 0, topicId: topicId, isr: [2], leader: 2), .partitionChange, 0)], to: &image)
        partition = try #require(image.topic(named: "orders")?.partitions[0])
        #expect(partition.leader == 2 && partition.leaderEpoch == 1 && partition.partitionEpoch == 2 && partition.replicas == [1, 2, 3])

        try apply([(RemoveTopicRecord(topicId: topicId), .removeTopic, 0)], to: &image)
        #expect(image.topic(named: "orders") == nil)
        #expect(image.configs.isEmpty)
        #expect(throws: MetadataImageError.self) {
            try image.apply(PartitionRecord(partitionId: 0, topicId: topicId), type: .partition)
        }
    }

    @Test func producerIdBlocksOnlyMoveForward() throws {
        var image = MetadataImage()
        try apply([(ProducerIdsRecord(brokerId: 1, brokerEpoch: 5, nextProducerId: 1000), .producerIds, 0),
                   (ProducerIdsRecord(brokerId: 2, brokerEpoch: 6, nextProducerId: 2000), .producerIds, 0)], to: &image)
        #expect(image.nextProducerId == 2000)
        #expect(throws: MetadataImageError.self) {
            try image.apply(ProducerIdsRecord(brokerId: 1, brokerEpoch: 5, nextProducerId: 1000), type: .producerIds)
        }
    }

    @Test func theSameRecordsGiveTheSameImage() throws {
        let records: [(any KafkaMessage, MetadataRecordType, Int16)] = [
            (register(1, epoch: 1), .registerBroker, 3), (TopicRecord(name: "t", topicId: topicId), .topic, 0),
            (PartitionRecord(partitionId: 0, topicId: topicId, replicas: [1], isr: [1], leader: 1), .partition, 0),
            (FeatureLevelRecord(name: "metadata.version", featureLevel: 21), .featureLevel, 0), (NoOpRecord(), .noOp, 0),
            (AccessControlEntryRecord(), .accessControlEntry, 0),
        ]
        var first = MetadataImage(), second = MetadataImage()
        try apply(records, to: &first)
        try apply(records, to: &second)
        #expect(first == second)
        #expect(first.features["metadata.version"] == 21)
        #expect(first.unmodelledRecords == 1)
    }
}
