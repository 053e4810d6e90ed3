import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

@Suite("Idempotent producer state")
struct ProducerStateTests {
    func batch(producer: Int64 = 77, epoch: Int16 = 0, sequence: Int32, count: Int = 3, tag: Int) -> ByteBuffer {
        var builder = RecordBatchBuilder(producerId: producer, producerEpoch: epoch, baseSequence: sequence)
        for index in 0..<count { builder.append(key: nil, value: ByteBuffer(string: "p\(tag)-\(index)"), timestamp: Int64(tag)) }
        return try! builder.build()
    }

    @Test(arguments: [true, false])
    func retriesAreAnsweredWithTheirOriginalOffsetsAcrossRestarts(cleanRestart: Bool) throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        let first = try harness.append(batch(sequence: 0, tag: 0))
        let second = try harness.append(batch(sequence: 3, tag: 1))
        #expect(first.firstOffset == 0 && second.firstOffset == 3)
        // A retry of the first batch: same offsets, nothing written.
        let retry = try harness.append(batch(sequence: 0, tag: 0))
        #expect(retry.firstOffset == 0 && retry.lastOffset == 2)
        #expect(harness.onOwner { $0.logEndOffset } == 6)
        try harness.reopen(clean: cleanRestart)
        let again = try harness.append(batch(sequence: 3, tag: 1))
        #expect(again.firstOffset == 3)
        #expect(harness.onOwner { $0.logEndOffset } == 6)
        // The next sequence continues; a gap is refused.
        #expect(try harness.append(batch(sequence: 6, tag: 2)).firstOffset == 6)
        #expect(throws: StorageError.outOfOrderSequence(producerId: 77, expected: 9, received: 12)) {
            try harness.append(batch(sequence: 12, tag: 3))
        }
        #expect(harness.onOwner { $0.logEndOffset } == 9)
    }

    @Test func olderEpochsAreFencedAndNewEpochsStartAtZero() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        try harness.append(batch(epoch: 1, sequence: 0, tag: 0))
        #expect(throws: StorageError.invalidProducerEpoch(producerId: 77, current: 1, received: 0)) {
            try harness.append(batch(epoch: 0, sequence: 3, tag: 1))
        }
        #expect(throws: StorageError.outOfOrderSequence(producerId: 77, expected: 0, received: 5)) {
            try harness.append(batch(epoch: 2, sequence: 5, tag: 2))
        }
        #expect(try harness.append(batch(epoch: 2, sequence: 0, tag: 3)).firstOffset == 3)
        // A producer with no state yet is accepted at whatever sequence it sends.
        #expect(try harness.append(batch(producer: 99, sequence: 500, tag: 4)).firstOffset == 6)
    }

    @Test func onlyTheLastFiveBatchesAreRemembered() {
        var table = ProducerStateTable()
        for index in 0..<7 {
            let header = try! RecordBatchHeader(peekingAt: batch(sequence: Int32(index * 3), tag: index))
            table.record(header, firstOffset: Int64(index * 3), timestamp: 0)
        }
        #expect(table.producer(77)?.batches.count == 5)
        #expect(table.producer(77)?.batches.first?.firstSequence == 6)
        let snapshot = table.serialized(validUpTo: 21)
        let parsed = ProducerStateTable.parse(snapshot)
        #expect(parsed?.table == table && parsed?.validUpTo == 21)
    }
}
