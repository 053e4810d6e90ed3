import KafkaProtocol
import NIOCore
import SluiceCore

extension RequestContext {
    /// Runs `body` on the coordinator's event loop; `body` answers once, through `respond`,
    /// whenever the coordinator is done (JoinGroup waits for the rebalance, commits for the disk).
    func withCoordinator<R: KafkaResponse>(
        _ body: @escaping @Sendable (GroupCoordinator, _ respond: @escaping @Sendable (R) -> Void) -> Void
    ) -> EventLoopFuture<OutgoingResponse?> {
        let promise = eventLoop.makePromise(of: OutgoingResponse?.self)
        let coordinator = broker.groups
        let version = self.version
        let correlationId = self.correlationId
        coordinator.owner.execute {
            body(coordinator) { response in
                do {
                    promise.succeed(try OutgoingResponse.encode(response, version: version, correlationId: correlationId))
                } catch {
                    promise.fail(error)
                }
            }
        }
        return promise.futureResult
    }

    var clientId: String { frame.header.clientId ?? "" }
}
