import Testing
@testable import SluiceStorage

/// A restarted replica starts its high watermark where the checkpoint had it, so records that may
/// never have reached the ISR are not served before replication confirms them.
@Suite("High-watermark checkpoint")
struct HighWatermarkCheckpointTests {
    @Test func kafkasFormatRoundTripsAndDamageIsRefused() {
        let offsets: [HighWatermarkCheckpoint.Key: Int64] = [.init(topic: "orders", partition: 0): 42, .init(topic: "a.b-c", partition: 7): 0]
        let bytes = OffsetCheckpointFile.serialize(offsets)
        #expect(String(decoding: bytes, as: UTF8.self) == "0\n2\na.b-c 7 0\norders 0 42\n")
        #expect(OffsetCheckpointFile.parse(bytes) == offsets)
        #expect(OffsetCheckpointFile.parse(Array("1\n0\n".utf8)) == nil, "another version")
        #expect(OffsetCheckpointFile.parse(Array("0\n2\norders 0 42\n".utf8)) == nil, "count does not match")
        #expect(OffsetCheckpointFile.parse(Array("0\n1\norders x 42\n".utf8)) == nil)
    }

    @Test func aReopenedLogServesOnlyUpToTheCheckpointedHighWatermark() throws {
        let directory = TemporaryDirectory()
        let harness = try LogHarness(directory: directory.path)
        for tag in 0..<4 { try harness.append(makeBatch(tag: tag, count: 2, timestamp: 1_000)) }
        try harness.reopen(clean: false)
        harness.onOwner { $0.restoreHighWatermark(4) }
        #expect(harness.onOwner { ($0.highWatermark, $0.stableEnd, $0.logEndOffset) } == (4, 8, 8))
        #expect(try harness.read(from: 0).map(\.header.baseOffset) == [0, 2])
        harness.onOwner { $0.highWatermarkFollowsReplicas = true }
        harness.onOwner { $0.advanceHighWatermark(to: 8) }
        #expect(try harness.read(from: 0).count == 4)
        // Never raised by a checkpoint: only lowered.
        harness.onOwner { $0.restoreHighWatermark(20) }
        #expect(harness.onOwner { $0.highWatermark } == 8)
    }
}
