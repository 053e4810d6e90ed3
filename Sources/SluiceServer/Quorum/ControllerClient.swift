import KafkaProtocol
import NIOCore
import SluiceClient
import SluiceCore

/// Requests from this broker to the active controller (Kafka's NodeToControllerChannelManager):
/// sent to the quorum's leader as this node last heard of it, again after a short pause while
/// there is none, it cannot be reached, or it answers NOT_CONTROLLER (leadership moved, or it
/// has not finished loading the log), until `within` runs out.
final class ControllerClient: Sendable {
    private let channels: NodeChannels
    private let quorum: QuorumHost

    init(channels: NodeChannels, quorum: QuorumHost) {
        self.channels = channels
        self.quorum = quorum
    }

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends `request`; `notController` tells whether an answer means "ask the controller again".
    func send<R: KafkaRequest>(_ request: R, version: Int16, within: Duration = .seconds(30),
                               notController: @Sendable (R.Response) -> Bool) async throws -> R.Response {
        let deadline = ContinuousClock.now + within
        var lastProblem = "no quorum leader known yet"
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            guard let leader = quorum.status.leaderId else {
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            do {
                // No single try may outlast the caller's budget (a controller that lost its quorum
                // never answers; a stopping broker must not wait on it).
                let remaining = deadline - ContinuousClock.now
                let response = try await channels.send(request, version: version, to: leader,
                                                       timeout: min(.seconds(15), max(.milliseconds(100), remaining)))
                if !notController(response) { return response }
                lastProblem = "node \(leader) is not the active controller"
            } catch {
                lastProblem = "node \(leader): \(error)"
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Unavailable(description: "the active controller did not answer \(R.apiKey) within \(within): \(lastProblem)")
    }

    func close() { channels.closeAll() }
}
