import Logging
import SluiceCore
import SluiceStorage
import Synchronization

/// Writes the high watermark of every replicated partition to the data directory's
/// `replication-offset-checkpoint` every `intervalMs` (Kafka's
/// replica.high.watermark.checkpoint.interval.ms), reading each on its partition's owner.
final class HighWatermarkCheckpointer: Sendable {
    private let registry: TopicRegistry
    private let intervalMs: Int64
    private let logger: Logger
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(registry: TopicRegistry, intervalMs: Int64, logger: Logger) {
        self.registry = registry
        self.intervalMs = intervalMs
        self.logger = logger
    }

    func start() {
        task.withLock { task in
            task = Task { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(intervalMs))
                    guard !Task.isCancelled else { return }
                    do {
                        var offsets: [HighWatermarkCheckpoint.Key: Int64] = [:]
                        for partition in registry.allTopics.flatMap(\.partitions) where partition.state.replicas.count > 1 {
                            if let offset = await partition.onOwner({ partition.log?.highWatermark }) {
                                offsets[.init(topic: partition.topic, partition: partition.index)] = offset
                            }
                        }
                        try HighWatermarkCheckpoint.save(offsets, dataDirectory: registry.dataDirectory)
                    } catch {
                        logger.warning("could not write the high-watermark checkpoint", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }
}
