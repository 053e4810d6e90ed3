/// Kafka's CheckpointFile of offsets, the format of `replication-offset-checkpoint`
/// (`HighWatermarkCheckpoint`) and `cleaner-offset-checkpoint` (`LogCleaner`): a version line
/// (0), a count line, then `topic partition offset` per line.
public enum OffsetCheckpointFile {
    public struct Key: Hashable, Sendable {
        public var topic: String
        public var partition: Int32

        public init(topic: String, partition: Int32) {
            self.topic = topic
            self.partition = partition
        }
    }

    public static func serialize(_ offsets: [Key: Int64]) -> [UInt8] {
        var text = "0\n\(offsets.count)\n"
        for (key, offset) in offsets.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            text += "\(key.topic) \(key.partition) \(offset)\n"
        }
        return Array(text.utf8)
    }

    /// nil when the file is not a version-0 checkpoint or its count does not match its lines.
    public static func parse(_ bytes: [UInt8]) -> [Key: Int64]? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.count >= 2, lines[0] == "0", let count = Int(lines[1]), count == lines.count - 2 else { return nil }
        var offsets: [Key: Int64] = [:]
        for line in lines.dropFirst(2) {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let partition = Int32(fields[1]), let offset = Int64(fields[2]), offset >= 0 else { return nil }
            offsets[Key(topic: String(fields[0]), partition: partition)] = offset
        }
        return offsets
    }

    /// The file's offsets; empty when it is missing or unreadable.
    public static func load(path: String) -> [Key: Int64] {
        readWholeFile(path: path).flatMap(parse) ?? [:]
    }

    public static func save(_ offsets: [Key: Int64], path: String) throws {
        try writeFileAtomically(path: path, bytes: serialize(offsets), sync: true)
    }
}
