import KafkaProtocol
import Logging
import SluiceCore
import Synchronization

/// Sends a leader's ISR changes to the active controller (Kafka's AlterPartitionManager) and
/// hands each answer back to its partition, on the partition's owner.
final class IsrChangeSender: Sendable {
    private let client = Mutex<(controller: ControllerClient, nodeId: Int32, brokerEpoch: @Sendable () -> Int64)?>(nil)
    private let logger: Logger
    private let statistics: ReplicationStatistics

    init(logger: Logger, statistics: ReplicationStatistics) {
        self.logger = logger
        self.statistics = statistics
    }

    /// Set once the controller client exists (it is made after the partitions are loaded).
    func connect(_ controller: ControllerClient, nodeId: Int32, brokerEpoch: @escaping @Sendable () -> Int64) {
        client.withLock { $0 = (controller, nodeId, brokerEpoch) }
    }

    func propose(_ partition: Partition, _ proposal: IsrProposal) {
        guard let (controller, nodeId, brokerEpoch) = client.withLock({ $0 }) else {
            partition.owner.execute { partition.isrChangeAnswered(proposal, result: .failure(.notController)) }
            return
        }
        let logger = self.logger
        Task {
            let epoch = brokerEpoch()
            let request = AlterPartitionRequest(brokerId: nodeId, brokerEpoch: epoch, topics: [
                .init(topicName: partition.topic, topicId: proposal.topicId, partitions: [
                    .init(partitionIndex: proposal.partition, leaderEpoch: proposal.leaderEpoch,
                          newIsrWithEpochs: proposal.newIsr.map { .init(brokerId: $0, brokerEpoch: proposal.brokerEpochs[$0] ?? -1) },
                          leaderRecoveryState: 0, partitionEpoch: proposal.partitionEpoch),
                ]),
            ])
            var result: Result<PartitionState, KafkaErrorCode>
            do {
                let response = try await controller.send(request, version: 3, within: .seconds(10)) {
                    $0.errorCode == KafkaErrorCode.notController.rawValue
                }
                if response.errorCode != 0 {
                    result = .failure(KafkaErrorCode(rawValue: response.errorCode))
                } else if let answer = response.topics.first?.partitions.first {
                    result = answer.errorCode == 0
                        ? .success(PartitionState(leader: answer.leaderId, leaderEpoch: answer.leaderEpoch,
                                                  partitionEpoch: answer.partitionEpoch, replicas: partition.state.replicas,
                                                  isr: answer.isr))
                        : .failure(KafkaErrorCode(rawValue: answer.errorCode))
                } else {
                    result = .failure(.unknownServerError)
                }
            } catch {
                result = .failure(.requestTimedOut)
            }
            switch result {
            case .success(let state):
                // Counted here: the new state may reach the partition with the metadata first.
                statistics.recordIsrChange(from: proposal.currentIsr.count, to: proposal.newIsr.count)
                logger.info("ISR changed", metadata: ["topic": "\(partition.topic)", "partition": "\(partition.index)",
                                                      "isr": "\(state.isr)", "partitionEpoch": "\(state.partitionEpoch)"])
            case .failure(let code):
                logger.info("ISR change refused", metadata: ["topic": "\(partition.topic)", "partition": "\(partition.index)",
                                                             "isr": "\(proposal.newIsr)", "error": "\(code.name)"])
            }
            let answered = result
            partition.owner.execute { partition.isrChangeAnswered(proposal, result: answered) }
        }
    }
}
