import KafkaProtocol
import Logging
import NIOCore
import SluiceCore

/// A response ready to write: the whole frame, size prefix included, as buffers and file regions.
struct OutgoingResponse: Sendable {
    var parts: [IOData]
    /// Runs once every part has been written (or the write failed): fetches release the
    /// segment files their regions read from.
    var whenWritten: (@Sendable () -> Void)? = nil

    static func encode<R: KafkaResponse>(_ response: R, version: Int16, correlationId: Int32) throws -> OutgoingResponse {
        var buffer = ByteBuffer()
        try buffer.writeKafkaResponse(response, version: version, correlationId: correlationId)
        return OutgoingResponse(parts: [.byteBuffer(buffer)])
    }
}

/// Why a connection is closed instead of answered (Kafka closes on these too).
struct CloseConnection: Error {
    let reason: String
}

/// One Kafka connection: requests are handled as they arrive (pipelined) and answered in the
/// order they came, whatever order their work finishes in.
///
/// Bounded: the connection stops reading from its socket while it has
/// `connection.max.pending.requests` requests unanswered, while its unsent responses are past
/// the channel's high water mark (a client that does not read), or while a produce request waits
/// for a congested storage writer (a slow disk); it reads again once these drain. Frames already
/// read when it stops (at most one socket read) wait in `held`, in order. So a client that
/// pipelines requests and never reads its answers costs the broker a bounded amount of memory,
/// as Kafka's muting of a channel per request does.
final class KafkaConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = IOData

    private let broker: BrokerContext
    private var logger: Logger
    private var nextSequence = 0
    private var nextToWrite = 0
    private var finished: [Int: OutgoingResponse?] = [:]
    private var closing = false
    /// The peer as Kafka reports it in DescribeGroups ("/127.0.0.1").
    private var clientHost = ""
    private let maxPendingRequests: Int
    /// Frames read but not yet dispatched because a limit was reached, oldest first.
    private var held: [ByteBuffer] = []
    private var heldStart = 0
    private var readingPaused = false
    private var waitingForWriter = false
    private var flushScheduled = false

    /// Which APIs the listener serves: the client listener's, or the controller listener's.
    typealias Dispatcher = @Sendable (RequestContext) throws -> EventLoopFuture<OutgoingResponse?>
    private let dispatcher: Dispatcher

    init(broker: BrokerContext, logger: Logger, maxPendingRequests: Int, dispatcher: @escaping Dispatcher = { try RequestDispatcher.handle($0) }) {
        self.dispatcher = dispatcher
        self.broker = broker
        self.logger = logger
        self.maxPendingRequests = max(1, maxPendingRequests)
    }

    func channelActive(context: ChannelHandlerContext) {
        if let remote = context.remoteAddress {
            logger[metadataKey: "peer"] = "\(remote)"
            clientHost = "/" + (remote.ipAddress ?? "")
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        held.append(Self.unwrapInboundIn(data))
        dispatchHeld(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        dispatchHeld(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// Dispatches held frames while the limits allow, then reads from the socket only if
    /// nothing is left waiting.
    private func dispatchHeld(context: ChannelHandlerContext) {
        while heldStart < held.count, !closing {
            guard nextSequence - nextToWrite < maxPendingRequests, context.channel.isWritable else { break }
            let frame = held[heldStart]
            if KafkaRequestFrame.peekApiKey(frame) == .produce && broker.storageCongested {
                waitForWriter(context: context)
                break
            }
            heldStart += 1
            dispatch(frame, context: context)
        }
        if heldStart == held.count {
            held.removeAll(keepingCapacity: held.count <= 64)
            heldStart = 0
        }
        setReading(heldStart == held.count && nextSequence - nextToWrite < maxPendingRequests && context.channel.isWritable,
                   context: context)
    }

    private func setReading(_ reading: Bool, context: ChannelHandlerContext) {
        guard reading == readingPaused, !closing else { return }
        readingPaused = !reading
        broker.metrics.connectionReadingPaused(!reading)
        context.channel.setOption(ChannelOptions.autoRead, value: reading).whenFailure { _ in }
    }

    private func waitForWriter(context: ChannelHandlerContext) {
        guard !waitingForWriter else { return }
        waitingForWriter = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        broker.whenStorageUncongested {
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.waitingForWriter = false
                handler.dispatchHeld(context: context)
            }
        }
    }

    private func dispatch(_ body: ByteBuffer, context: ChannelHandlerContext) {
        let frame: KafkaRequestFrame
        do {
            frame = try KafkaRequestFrame(frame: body)
        } catch {
            close(context: context, reason: "malformed request header: \(error)")
            return
        }
        let sequence = nextSequence
        nextSequence += 1
        let started = NIODeadline.now()
        let metrics = broker.metrics
        metrics.bytesIn.increment(by: Int64(body.readableBytes + 4))
        let request = RequestContext(broker: broker, eventLoop: context.eventLoop, frame: frame, logger: logger, clientHost: clientHost)
        let future: EventLoopFuture<OutgoingResponse?>
        do {
            future = try dispatcher(request)
        } catch let error as CloseConnection {
            close(context: context, reason: error.reason)
            return
        } catch {
            close(context: context, reason: "\(frame.apiKey) v\(frame.apiVersion): \(error)")
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            metrics.request(frame.apiKey, nanoseconds: (NIODeadline.now() - started).nanoseconds)
            switch result {
            case .success(let response):
                if handler.closing {
                    response?.whenWritten?()
                    return
                }
                handler.finished[sequence] = .some(response)
                handler.writeInOrder(context: context)
            case .failure(let error as CloseConnection):
                handler.close(context: context, reason: error.reason)
            case .failure(let error):
                handler.close(context: context, reason: "\(frame.apiKey) v\(frame.apiVersion) failed: \(error)")
            }
        }
    }

    private func writeInOrder(context: ChannelHandlerContext) {
        guard !closing else { return }
        let firstUnanswered = nextToWrite
        var wrote = false
        while let response = finished.removeValue(forKey: nextToWrite) {
            nextToWrite += 1
            guard let response else { continue }
            broker.metrics.bytesOut.increment(by: Int64(response.parts.reduce(0) { $0 + $1.readableBytes }))
            for (index, part) in response.parts.enumerated() {
                if index == response.parts.count - 1, let whenWritten = response.whenWritten {
                    let promise = context.eventLoop.makePromise(of: Void.self)
                    let bound = NIOLoopBound(whenWritten, eventLoop: context.eventLoop)
                    promise.futureResult.whenComplete { _ in bound.value() }
                    context.write(Self.wrapOutboundOut(part), promise: promise)
                } else {
                    context.write(Self.wrapOutboundOut(part), promise: nil)
                }
            }
            wrote = true
        }
        if wrote {
            if nextToWrite == nextSequence {
                // Nothing else outstanding: a lone request's answer leaves at once.
                context.flush()
            } else {
                scheduleFlush(context: context)
            }
        }
        // Requests that finished without an answer (acks=0) free their places too: held frames
        // may go on, and reading may resume, even when nothing was written.
        if nextToWrite != firstUnanswered {
            dispatchHeld(context: context)
        }
    }

    /// Flushes after the tasks already queued on the loop have run: with requests pipelined, the
    /// responses one storage group completes (a completion task each) leave in one write system
    /// call, not one apiece.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.flushScheduled = false
            context.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(context: context, reason: "\(error)")
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            close(context: context, reason: "idle longer than connections.max.idle.ms")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if readingPaused {
            readingPaused = false
            broker.metrics.connectionReadingPaused(false)
        }
        closing = true
        held.removeAll()
        releasePending()
        context.fireChannelInactive()
    }

    /// Responses that will never be written still hold segment files; let them go.
    private func releasePending() {
        for response in finished.values {
            response?.whenWritten?()
        }
        finished.removeAll()
    }

    private func close(context: ChannelHandlerContext, reason: String) {
        guard !closing else { return }
        closing = true
        releasePending()
        logger.warning("closing connection", metadata: ["reason": "\(reason)"])
        context.close(promise: nil)
    }
}

/// What a request handler gets.
struct RequestContext {
    let broker: BrokerContext
    let eventLoop: any EventLoop
    let frame: KafkaRequestFrame
    let logger: Logger
    var clientHost = ""

    var version: Int16 { frame.apiVersion }
    var correlationId: Int32 { frame.correlationId }

    func decode<R: KafkaRequest>(_ type: R.Type) throws -> R {
        var body = frame.body
        return try R(from: &body, version: version)
    }

    func respond<R: KafkaResponse>(_ response: R) -> EventLoopFuture<OutgoingResponse?> {
        do {
            return eventLoop.makeSucceededFuture(try OutgoingResponse.encode(response, version: version, correlationId: correlationId))
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }
}
