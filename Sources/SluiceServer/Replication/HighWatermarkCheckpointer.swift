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
                        try await registry.checkpointHighWatermarks { partitions in
                            var offsets: [HighWatermarkCheckpoint.Key: Int64] = [:]
                            for partition in partitions {
                                let offset: Int64? = await withCheckedContinuation { continuation in
                                    partition.owner.execute { continuation.resume(returning: partition.log?.highWatermark) }
                                }
                                if let offset { offsets[.init(topic: partition.topic, partition: partition.index)] = offset }
                            }
                            return offsets
                        }
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
