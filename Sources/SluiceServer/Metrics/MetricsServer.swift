import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceCore
import SluiceStorage

/// `GET /metrics` in Prometheus text format, on its own listener (`metrics.listener`). Each
/// scrape hops to every partition's owner to read log end offsets and sizes, and to the group
/// coordinator's loop for the group count, so nothing owned by an event loop is read from
/// another thread.
final class MetricsServer: Sendable {
    let channel: any Channel

    static func start(host: String, port: Int, group: any EventLoopGroup, broker: BrokerContext, logger: Logger) throws -> MetricsServer {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(broker: broker))
                }
            }
        let channel = try bootstrap.bind(host: host, port: port).wait()
        logger.info("metrics listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        return MetricsServer(channel: channel)
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    func close() {
        try? channel.close().wait()
    }

    /// Everything a scrape reports that must be read on its owner.
    static func gather(_ broker: BrokerContext, on loop: any EventLoop) -> EventLoopFuture<([BrokerMetrics.PartitionFigures], Int)> {
        var reads: [EventLoopFuture<BrokerMetrics.PartitionFigures>] = []
        for topic in broker.registry.allTopics {
            for partition in topic.partitions {
                let promise = loop.makePromise(of: BrokerMetrics.PartitionFigures.self)
                partition.owner.execute {
                    // An offline partition (its log could not be opened) reports -1 and 0.
                    var figures = BrokerMetrics.PartitionFigures(topic: topic.name, partition: partition.index,
                                                                 logEndOffset: partition.log?.logEndOffset ?? -1,
                                                                 sizeBytes: partition.log?.sizeInBytes ?? 0)
                    let replication = partition.replicationFigures
                    figures.underReplicated = replication.underReplicated
                    figures.underMinIsr = replication.underMinIsr
                    figures.maxFollowerLag = replication.maxFollowerLag
                    figures.offline = partition.state.leader == -1 && partition.state.partitionEpoch >= 0
                    promise.succeed(figures)
                }
                reads.append(promise.futureResult)
            }
        }
        let groups = loop.makePromise(of: Int.self)
        let coordinator = broker.groups
        coordinator.owner.execute { groups.succeed(coordinator.listGroups().count) }
        return EventLoopFuture.whenAllSucceed(reads, on: loop).and(groups.futureResult)
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let broker: BrokerContext

    init(broker: BrokerContext) {
        self.broker = broker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        guard head.method == .GET, head.uri == "/metrics" || head.uri.hasPrefix("/metrics?") else {
            respond(bound.value, status: .notFound, body: Array("only GET /metrics here\n".utf8), keepAlive: head.isKeepAlive)
            return
        }
        let keepAlive = head.isKeepAlive
        let metrics = broker.metrics
        MetricsServer.gather(broker, on: context.eventLoop).whenComplete { result in
            switch result {
            case .success(let (partitions, groups)):
                self.respond(bound.value, status: .ok, body: metrics.render(partitions: partitions, groups: groups), keepAlive: keepAlive)
            case .failure(let error):
                self.respond(bound.value, status: .internalServerError, body: Array("\(error)\n".utf8), keepAlive: keepAlive)
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: [UInt8], keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }
}
