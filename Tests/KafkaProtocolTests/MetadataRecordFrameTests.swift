import KafkaProtocol
import NIOCore
import Testing

@Suite struct MetadataRecordFrameTests {
    /// The frame of a TopicRecord, written out by hand from Kafka's AbstractApiMessageSerde and
    /// the TopicRecord spec: frame version 1, type 2, version 0, compact string "foo", the uuid,
    /// no tagged fields.
    @Test func aTopicRecordIsFramedAsKafkaFramesIt() throws {
        let id = KafkaUUID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10)
        var expected: [UInt8] = [0x01, 0x02, 0x00, 0x04] + Array("foo".utf8)
        expected += Array(1...16)
        expected += [0x00]
        let encoded = try MetadataRecordFrame.encode(TopicRecord(name: "foo", topicId: id), type: .topic, version: 0)
        #expect(encoded == expected)

        var buffer = ByteBuffer(bytes: expected)
        let decoded = try MetadataRecordFrame.read(from: &buffer)
        #expect(decoded.type == .topic && decoded.version == 0)
        #expect(decoded.record as? TopicRecord == TopicRecord(name: "foo", topicId: id))
    }

    @Test func everyRecordTypeRoundTripsThroughItsFrame() throws {
        #expect(MetadataRecordType.allSpecs.count == 25)
        var random = TestRandom(seed: 7)
        let partition = PartitionRecord.arbitrary(version: 2, using: &random)
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        try MetadataRecordFrame.write(partition, type: .partition, version: 2, to: &buffer)
        let decoded = try MetadataRecordFrame.read(from: &buffer)
        #expect(decoded.record as? PartitionRecord == partition)
        #expect(MetadataRecordType.registerBroker.rawValue == 0)
        #expect(MetadataRecordType.noOp.rawValue == 20)
        #expect(MetadataRecordType(rawValue: 5).name == "PartitionChangeRecord")
    }

    @Test func badFramesAreRefusedWithTypedErrors() {
        for bytes: [UInt8] in [[0x02, 0x02, 0x00], [0x01, 0x7F, 0x00], [0x01, 0x02, 0x05], [0x01, 0x02, 0x00, 0x04, 0x66], [0x01]] {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(throws: KafkaProtocolError.self) { try MetadataRecordFrame.read(from: &buffer) }
        }
    }
}
