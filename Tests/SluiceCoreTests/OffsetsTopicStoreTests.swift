import Testing

@testable import SluiceCore

/// A group lives in the partition of __consumer_offsets Kafka would put it in, so a Kafka
/// tool reading that topic, or a migration, finds it where Kafka's coordinator would.
@Suite("Offsets topic")
struct OffsetsTopicStoreTests {
    @Test func groupsMapToPartitionsAsKafkasUtilsAbsOfJavaHashCode() {
        // "hello".hashCode() == 99162322 in Java.
        #expect(OffsetsTopicStore.partition(for: "hello", partitions: 50) == 99_162_322 % 50)
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs makes it 0.
        #expect(OffsetsTopicStore.partition(for: "polygenelubricants", partitions: 50) == 0)
        // Negative hashes: "Aa-negative" style strings wrap; the result stays within range.
        for group in ["console-consumer-12345", "ünïcødé", "", "a-very-long-group-name-\(String(repeating: "x", count: 300))"] {
            let partition = OffsetsTopicStore.partition(for: group, partitions: 7)
            #expect((0..<7).contains(partition))
        }
        // UTF-16 units, not bytes: "😀".hashCode() == 0xD83D * 31 + 0xDE00 == 1772899 in Java.
        #expect(OffsetsTopicStore.partition(for: "😀", partitions: 1000) == 899)
    }
}
