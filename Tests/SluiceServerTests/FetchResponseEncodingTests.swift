import Glibc
import KafkaProtocol
import NIOCore
import SluiceStorage
import Testing
@testable import SluiceServer

/// The hand-written Fetch response (records as file regions) must be exactly what the
/// generated FetchResponse decoder reads, at every version the broker serves.
@Suite("Fetch response encoding")
struct FetchResponseEncodingTests {
    @Test(arguments: Array(Int16(4)...16))
    func handWrittenResponseDecodesWithTheGeneratedType(version: Int16) throws {
        var template = Array("/tmp/sluice-fetch-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        defer { _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) } }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let file = SegmentFile(descriptor: fd, path: path)
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: ByteBuffer(string: "hello"), timestamp: 1)
        let batch = try builder.build()
        let bytes = Array(batch.readableBytesView)
        let prefix = [UInt8](repeating: 0xEE, count: 10)  // the region starts mid-file
        _ = (prefix + bytes).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }

        var withData = FetchHandler.PartitionRead(topic: "orders", topicId: KafkaUUID(high: 1, low: 2), index: 3)
        withData.highWatermark = 42
        withData.lastStableOffset = 40
        withData.logStartOffset = 7
        withData.abortedTransactions = [(producerId: 5, firstOffset: 12), (producerId: 6, firstOffset: 30)]
        withData.slices = [FileRegionSlice(file: file, position: 10, length: bytes.count)]
        var empty = FetchHandler.PartitionRead(topic: "orders", topicId: KafkaUUID(high: 1, low: 2), index: 4)
        empty.highWatermark = 0
        empty.logStartOffset = 0
        var missing = FetchHandler.PartitionRead(topic: "gone", topicId: KafkaUUID(high: 3, low: 4), index: 0, code: .unknownTopicOrPartition)
        missing.highWatermark = 5

        let response = try FetchHandler.encode([withData, empty, missing], sessionId: 9, errorCode: .none, version: version, correlationId: 77)
        var frame = ByteBuffer()
        for part in response.parts {
            switch part {
            case .byteBuffer(let buffer): frame.writeImmutableBuffer(buffer)
            case .fileRegion(let region):
                frame.writeBytes(try FileRegionSlice(file: file, position: Int64(region.readerIndex), length: region.readableBytes).readBytes())
            }
        }
        response.whenWritten?()
        let size = frame.readInteger(as: Int32.self) ?? -1
        #expect(Int(size) == frame.readableBytes)
        let header = try ResponseHeader(from: &frame, version: version >= 12 ? 1 : 0)
        #expect(header.correlationId == 77)
        let decoded = try FetchResponse(from: &frame, version: version)
        #expect(frame.readableBytes == 0)
        if version >= 7 { #expect(decoded.sessionId == 9) }
        #expect(decoded.responses.count == 2)
        let orders = decoded.responses[0]
        if version >= 13 { #expect(orders.topicId == KafkaUUID(high: 1, low: 2)) } else { #expect(orders.topic == "orders") }
        #expect(orders.partitions.map(\.partitionIndex) == [3, 4])
        let first = orders.partitions[0]
        #expect(first.highWatermark == 42 && first.lastStableOffset == 40)
        #expect(first.abortedTransactions?.map { [$0.producerId, $0.firstOffset] } == [[5, 12], [6, 30]])
        // Not read_committed: the list is null.
        #expect(orders.partitions[1].abortedTransactions == nil)
        if version >= 5 { #expect(first.logStartOffset == 7) }
        #expect(first.records.map { Array($0.readableBytesView) } == bytes)
        // An empty partition carries an empty record set, never null.
        #expect(orders.partitions[1].records?.readableBytes == 0)
        let gone = decoded.responses[1].partitions[0]
        #expect(gone.errorCode == 3 && gone.highWatermark == -1)
    }
}
