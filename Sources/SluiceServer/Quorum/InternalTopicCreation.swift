import KafkaProtocol
import Logging
import SluiceCore
import Synchronization

/// Creates an internal topic (`__consumer_offsets`, `__transaction_state`) through the
/// controller the first time a client needs it, as Kafka's brokers do on FindCoordinator: one
/// request at a time, at most every 10 s; clients retry their FindCoordinator meanwhile.
final class InternalTopicCreation: Sendable {
    private let name: String
    private let logger: Logger
    private let started = Mutex<ContinuousClock.Instant?>(nil)

    init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
    }

    /// `configs`: the topic's settings (both are compacted, as Kafka creates them);
    /// `minInsyncReplicas`, capped at the replication factor a small cluster allows.
    func createIfMissing(cluster: ClusterNode, partitions: Int, replicationFactor: Int, minInsyncReplicas: Int? = nil,
                         configs: [String: String]) {
        let now = ContinuousClock.now
        let go = started.withLock { started -> Bool in
            if let started, now - started < .seconds(10) { return false }
            started = now
            return true
        }
        guard go else { return }
        let live = cluster.quorum.status.image.activeBrokers.count
        let factor = Int16(max(1, min(replicationFactor, live)))
        let (name, logger) = (self.name, self.logger)
        var configs = configs
        if let minInsyncReplicas { configs["min.insync.replicas"] = "\(min(minInsyncReplicas, Int(factor)))" }
        Task {
            let request = CreateTopicsRequest(topics: [
                .init(name: name, numPartitions: Int32(partitions), replicationFactor: factor, assignments: [],
                      configs: configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) }),
            ], timeoutMs: 30_000)
            do {
                let response = try await cluster.controller.send(request, version: 7, within: .seconds(30)) {
                    $0.topics.first?.errorCode == KafkaErrorCode.notController.rawValue
                }
                let code = KafkaErrorCode(rawValue: response.topics.first?.errorCode ?? -1)
                logger.info("internal topic creation", metadata: [
                    "topic": "\(name)", "partitions": "\(partitions)", "replicationFactor": "\(factor)", "result": "\(code.name)"])
            } catch {
                logger.warning("could not create an internal topic", metadata: ["topic": "\(name)", "error": "\(error)"])
            }
        }
    }
}
