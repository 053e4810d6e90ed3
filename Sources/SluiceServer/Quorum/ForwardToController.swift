import KafkaProtocol
import NIOCore
import SluiceCore

extension RequestContext {
    /// Sends a client's request on to the active controller at the same version and answers
    /// with the controller's response (Kafka's brokers forward CreateTopics and the like the
    /// same way). `settled`, given the response, says what this broker's own image must show
    /// before the answer goes back (a created topic, say), so the client's next request here
    /// already sees the change; it waits at most a few seconds for that. `failed` builds the
    /// answer when no controller could be reached.
    func forwardToController<R: KafkaRequest>(
        _ body: R, cluster: ClusterNode, retryWhen notController: @escaping @Sendable (R.Response) -> Bool,
        settled: @escaping @Sendable (R.Response) -> (@Sendable (MetadataImage) -> Bool)? = { _ in nil },
        failed: @escaping @Sendable (String) -> R.Response
    ) -> EventLoopFuture<OutgoingResponse?> where R.Response: Sendable {
        let promise = eventLoop.makePromise(of: OutgoingResponse?.self)
        let (version, correlationId, logger) = (self.version, self.correlationId, self.logger)
        promise.completeWithTask {
            let response: R.Response
            do {
                response = try await cluster.controller.send(body, version: version, within: .seconds(30), notController: notController)
                if let condition = settled(response) { await cluster.waitForImage(timeout: .seconds(5), condition) }
            } catch {
                logger.warning("could not forward a request to the controller", metadata: ["api": "\(R.apiKey)", "error": "\(error)"])
                response = failed("\(error)")
            }
            return try OutgoingResponse.encode(response, version: version, correlationId: correlationId)
        }
        return promise.futureResult
    }
}
