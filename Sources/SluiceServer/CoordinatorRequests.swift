import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

extension RequestContext {
    /// Runs `body` on the coordinator's event loop; `body` answers once, through `respond`,
    /// whenever the coordinator is done (JoinGroup waits for the rebalance, commits for the disk).
    func withCoordinator<R: KafkaResponse>(
        _ body: @escaping @Sendable (GroupCoordinator, _ respond: @escaping @Sendable (R) -> Void) -> Void
    ) -> EventLoopFuture<OutgoingResponse?> {
        answered(on: broker.groups.owner, with: broker.groups, body)
    }

    /// The same for the coordinator of `transactionalId` here; where there is none, the answer
    /// is `refused` with the reason (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS...).
    func withTransactions<R: KafkaResponse>(
        of transactionalId: String, refused: (KafkaErrorCode) -> R,
        _ body: @escaping @Sendable (TransactionCoordinator, _ respond: @escaping @Sendable (R) -> Void) -> Void
    ) -> EventLoopFuture<OutgoingResponse?> {
        switch broker.transactions.lookup(transactionalId) {
        case .served(let coordinator): return answered(on: coordinator.owner, with: coordinator, body)
        case .refused(let code): return respond(refused(code))
        }
    }

    /// Runs `body` where this broker's transaction coordinators live (one event loop for all
    /// of them), so it may read any of them.
    func onTransactionCoordinators<R: KafkaResponse>(
        _ body: @escaping @Sendable (_ respond: @escaping @Sendable (R) -> Void) -> Void
    ) -> EventLoopFuture<OutgoingResponse?> {
        let owner: any LogOwnerExecutor = broker.transactions.owner ?? EventLoopOwner(eventLoop: eventLoop)
        return answered(on: owner, with: 0) { _, respond in body(respond) }
    }

    /// Runs `body` with an owner-confined `object` on `owner`; its one answer is encoded for
    /// this request.
    private func answered<C: Sendable, R: KafkaResponse>(
        on owner: any LogOwnerExecutor, with object: C, _ body: @escaping @Sendable (C, _ respond: @escaping @Sendable (R) -> Void) -> Void
    ) -> EventLoopFuture<OutgoingResponse?> {
        let promise = eventLoop.makePromise(of: OutgoingResponse?.self)
        let version = self.version
        let correlationId = self.correlationId
        owner.execute {
            body(object) { response in
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
