import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import SluiceCore
import Synchronization

/// One listener of the broker's (a client listener, or a controller's only listener): a server
/// channel whose connections get the pipeline `IdleStateHandler` → `KafkaFrameHandler` →
/// `KafkaConnectionHandler`, with a `SaslAuthenticator` when the listener's protocol uses
/// SASL. Every listener shares one connection count (`max.connections`) and one dispatcher.
struct ClientListener {
    /// What all of a broker's listeners share.
    final class Shared: Sendable {
        let connections = Atomic<Int>(0)
        let metrics: BrokerMetrics
        let contextBox: ContextBox
        let dispatcher: KafkaConnectionHandler.Dispatcher
        let logger: Logger
        let idleMs: Int64
        let maxFrame: Int
        let maxPendingRequests: Int

        init(metrics: BrokerMetrics, contextBox: ContextBox, dispatcher: @escaping KafkaConnectionHandler.Dispatcher, logger: Logger,
             idleMs: Int64, maxFrame: Int, maxPendingRequests: Int) {
            self.metrics = metrics
            self.contextBox = contextBox
            self.dispatcher = dispatcher
            self.logger = logger
            self.idleMs = idleMs
            self.maxFrame = maxFrame
            self.maxPendingRequests = maxPendingRequests
        }
    }

    static func bind(_ endpoint: ListenerEndpoint, security: ListenerSecurity, group: any EventLoopGroup, shared: Shared) throws -> any Channel {
        let host = endpoint.host.isEmpty ? "0.0.0.0" : endpoint.host
        var logger = shared.logger
        logger[metadataKey: "listener"] = "\(endpoint.name)"
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Past 1 MiB of unsent responses a connection stops reading (KafkaConnectionHandler).
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .childChannelInitializer { [logger] channel in
                let open = shared.connections.wrappingAdd(1, ordering: .relaxed).newValue
                shared.metrics.connectionOpened()
                channel.closeFuture.whenComplete { _ in
                    shared.connections.wrappingSubtract(1, ordering: .relaxed)
                    shared.metrics.connectionClosed()
                }
                return shared.contextBox.whenSet(on: channel.eventLoop).flatMap { broker in
                    // Read per connection: max.connections is a dynamic setting.
                    let maxConnections = broker.config.int("max.connections")
                    guard open <= maxConnections else {
                        logger.warning("connection refused: max.connections reached", metadata: ["limit": "\(maxConnections)"])
                        return channel.close()
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        let authenticator = security.securityProtocol.usesSasl
                            ? SaslAuthenticator(settings: security, security: broker.security) : nil
                        let frames = KafkaFrameHandler(frames: KafkaFrameDecoder(
                            maximumFrameSize: authenticator == nil ? shared.maxFrame
                                : min(shared.maxFrame, security.maxReceiveBeforeAuthentication)))
                        try sync.addHandler(IdleStateHandler(allTimeout: .milliseconds(shared.idleMs)))
                        try sync.addHandler(frames)
                        try sync.addHandler(KafkaConnectionHandler(
                            broker: broker, logger: logger, maxPendingRequests: shared.maxPendingRequests, listenerName: endpoint.name,
                            authenticator: authenticator, frames: frames, maxFrameSize: shared.maxFrame, dispatcher: shared.dispatcher))
                    }
                }
            }
        return try bootstrap.bind(host: host, port: endpoint.port).wait()
    }
}
