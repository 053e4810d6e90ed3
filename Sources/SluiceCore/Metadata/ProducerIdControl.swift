import KafkaProtocol

/// Producer ids for the whole cluster (Kafka's ProducerIdControlManager and KIP-730): a broker
/// asks the controller for a block (AllocateProducerIds) and hands ids out of it locally. The
/// block is committed to the metadata log before the broker gets it, so two brokers never get
/// overlapping ids, even across controller failovers.
public struct ProducerIdControl: Sendable {
    /// Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
    public static let blockSize: Int64 = 1000

    public init() {}

    public func allocate(brokerId: Int32, brokerEpoch: Int64, image: MetadataImage)
        throws(ControllerError) -> (records: [MetadataRecordToWrite], firstId: Int64, count: Int64) {
        guard let broker = image.brokers[brokerId] else {
            throw ControllerError(.brokerIdNotRegistered, "Broker \(brokerId) is not registered")
        }
        guard broker.epoch == brokerEpoch else {
            throw ControllerError(.staleBrokerEpoch, "Expected broker epoch \(broker.epoch), but got broker epoch \(brokerEpoch)")
        }
        let first = image.nextProducerId
        guard first <= Int64.max - Self.blockSize else {
            throw ControllerError(.unknownServerError, "Producer ids are exhausted")
        }
        let record = ProducerIdsRecord(brokerId: brokerId, brokerEpoch: brokerEpoch, nextProducerId: first + Self.blockSize)
        return ([MetadataRecordToWrite(record, .producerIds)], first, Self.blockSize)
    }
}
