import KafkaProtocol
import NIOCore

/// A metadata snapshot: the records that rebuild an image, each framed as in the log and
/// length-prefixed. (Kafka wraps the same records in record batches between a header and a
/// footer control record; this is the content without that wrapping.) A single broker's
/// security file keeps its records in the same framing.
public enum MetadataSnapshot {
    public static func encode(_ image: MetadataImage) throws -> [UInt8] {
        try encode(records: image.recordsRebuildingIt())
    }

    public static func encode(records: [MetadataRecordToWrite]) throws -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 4096)
        for record in records {
            let frame = try MetadataRecordFrame.encode(record.record, type: record.type, version: record.version)
            buffer.writeInteger(UInt32(frame.count))
            buffer.writeBytes(frame)
        }
        return Array(buffer.readableBytesView)
    }

    public static func decode(_ bytes: [UInt8]) throws -> MetadataImage {
        var image = MetadataImage()
        try forEachRecord(in: bytes) { try image.apply($0, type: $1) }
        return image
    }

    /// Each record of `bytes`, in order; a truncated or undecodable frame throws.
    public static func forEachRecord(in bytes: [UInt8], _ body: (any KafkaMessage, MetadataRecordType) throws -> Void) throws {
        var buffer = ByteBuffer(bytes: bytes)
        while buffer.readableBytes > 0 {
            guard let length = buffer.readInteger(as: UInt32.self), var frame = buffer.readSlice(length: Int(length)) else {
                throw KafkaProtocolError.truncated(needed: 4, available: buffer.readableBytes)
            }
            let read = try MetadataRecordFrame.read(from: &frame)
            try body(read.record, read.type)
        }
    }
}

extension MetadataImage {
    /// Records that, applied to an empty image, give this one.
    public func recordsRebuildingIt() -> [MetadataRecordToWrite] {
        var records: [MetadataRecordToWrite] = []
        for (name, level) in features.sorted(by: { $0.key < $1.key }) {
            records.append(MetadataRecordToWrite(FeatureLevelRecord(name: name, featureLevel: level), .featureLevel))
        }
        for broker in brokers.values.sorted(by: { $0.id < $1.id }) {
            records.append(MetadataRecordToWrite(RegisterBrokerRecord(
                brokerId: broker.id, incarnationId: broker.incarnationId, brokerEpoch: broker.epoch,
                endPoints: broker.listeners.map { .init(name: $0.name, host: $0.host, port: UInt16(clamping: $0.port), securityProtocol: 0) },
                rack: broker.rack, fenced: broker.fenced, inControlledShutdown: broker.inControlledShutdown), .registerBroker, version: 3))
        }
        for topic in topicsById.values.sorted(by: { $0.name < $1.name }) {
            records.append(MetadataRecordToWrite(TopicRecord(name: topic.name, topicId: topic.id), .topic))
            for (index, partition) in topic.partitions.sorted(by: { $0.key < $1.key }) {
                records.append(MetadataRecordToWrite(PartitionRecord(
                    partitionId: index, topicId: topic.id, replicas: partition.replicas, isr: partition.isr,
                    removingReplicas: partition.removingReplicas, addingReplicas: partition.addingReplicas, leader: partition.leader,
                    leaderRecoveryState: partition.recoveringFromUncleanElection ? 1 : 0, leaderEpoch: partition.leaderEpoch,
                    partitionEpoch: partition.partitionEpoch), .partition))
            }
        }
        for (resource, values) in configs.sorted(by: { ($0.key.type, $0.key.name) < ($1.key.type, $1.key.name) }) {
            for (name, value) in values.sorted(by: { $0.key < $1.key }) {
                records.append(MetadataRecordToWrite(ConfigRecord(resourceType: resource.type, resourceName: resource.name,
                                                                  name: name, value: value), .config))
            }
        }
        records += scramCredentials.records
        if nextProducerId > 0 {
            records.append(MetadataRecordToWrite(ProducerIdsRecord(brokerId: -1, brokerEpoch: -1, nextProducerId: nextProducerId),
                                                 .producerIds))
        }
        return records
    }
}
