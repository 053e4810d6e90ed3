/// Kafka's `replication-offset-checkpoint`: the high watermark of every replicated partition
/// in a data directory, written every few seconds, so that a restarted broker does not expose
/// records past what its ISR held before it stopped (its log may end later than that) before
/// it hears the high watermark again. The format is `OffsetCheckpointFile`'s.
public enum HighWatermarkCheckpoint {
    public static let fileName = "replication-offset-checkpoint"

    public typealias Key = OffsetCheckpointFile.Key

    public static func load(dataDirectory: String) -> [Key: Int64] {
        OffsetCheckpointFile.load(path: dataDirectory + "/" + fileName)
    }

    public static func save(_ offsets: [Key: Int64], dataDirectory: String) throws {
        try OffsetCheckpointFile.save(offsets, path: dataDirectory + "/" + fileName)
    }
}
