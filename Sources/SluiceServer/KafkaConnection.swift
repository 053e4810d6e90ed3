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
    /// A SASL listener's login state; nil on a PLAINTEXT listener.
    private var authenticator: SaslAuthenticator?
    /// Set when a login failed: nothing more is read or dispatched; the answer waits out
    /// `connection.failed.authentication.delay.ms`, then the connection closes.
    private var authenticationFailed = false
    /// Raised from `sasl.server.max.receive.size` to `socket.request.max.bytes` once logged in.
    private let frames: KafkaFrameHandler?
    private let maxFrameSize: Int
    /// The listener this connection came in on (Metadata names each broker's endpoint on it).
    private let listenerName: String

    /// Which APIs the listener serves: the client listener's, or the controller listener's.
    typealias Dispatcher = @Sendable (RequestContext) throws -> EventLoopFuture<OutgoingResponse?>
    private let dispatcher: Dispatcher

    init(broker: BrokerContext, logger: Logger, maxPendingRequests: Int, listenerName: String = "PLAINTEXT",
         authenticator: SaslAuthenticator? = nil, frames: KafkaFrameHandler? = nil, maxFrameSize: Int = 100 << 20,
         dispatcher: @escaping Dispatcher = { try RequestDispatcher.handle($0) }) {
        self.dispatcher = dispatcher
        self.broker = broker
        self.logger = logger
        self.maxPendingRequests = max(1, maxPendingRequests)
        self.listenerName = listenerName
        self.authenticator = authenticator
        self.frames = frames
        self.maxFrameSize = maxFrameSize
    }

    func channelActive(context: ChannelHandlerContext) {
        if let remote = context.remoteAddress {
            logger[metadataKey: "peer"] = "\(remote)"
            clientHost = "/" + (remote.ipAddress ?? "")
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, !authenticationFailed else { return }
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
        while heldStart < held.count, !closing, !authenticationFailed {
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
        let reading = reading && !authenticationFailed
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
        if var authenticator, authenticator.expectsRawToken {
            let outcome = authenticator.handleRawToken(body, now: .now())
            self.authenticator = authenticator
            handle(outcome, completedLogin: authenticator.isAuthenticated, context: context)
            return
        }
        let frame: KafkaRequestFrame
        do {
            frame = try KafkaRequestFrame(frame: body)
        } catch {
            close(context: context, reason: "malformed request header: \(error)")
            return
        }
        let started = NIODeadline.now()
        let metrics = broker.metrics
        if authenticator != nil, authenticator?.admits(frame.apiKey, now: started) != true,
           !authenticate(frame, now: started, context: context) { return }
        let sequence = nextSequence
        nextSequence += 1
        metrics.bytesIn.increment(by: Int64(body.readableBytes + 4))
        let request = RequestContext(broker: broker, eventLoop: context.eventLoop, frame: frame, logger: logger, clientHost: clientHost,
                                     listenerName: listenerName, principal: authenticator?.principal ?? .anonymous)
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

    /// Runs a SASL connection's frame past its authenticator: true when it is an ordinary
    /// request the connection may make; false when the authenticator answered it (or closed).
    private func authenticate(_ frame: KafkaRequestFrame, now: NIODeadline, context: ChannelHandlerContext) -> Bool {
        guard var authenticator else { return true }
        let wasAuthenticated = authenticator.isAuthenticated
        let outcome = authenticator.handle(frame, now: now)
        self.authenticator = authenticator
        if case .dispatch = outcome { return true }
        handle(outcome, completedLogin: authenticator.isAuthenticated && (!wasAuthenticated || frame.apiKey == .saslAuthenticate),
               context: context)
        return false
    }

    private func handle(_ outcome: SaslAuthenticator.Outcome, completedLogin: Bool, context: ChannelHandlerContext) {
        switch outcome {
        case .dispatch:
            preconditionFailure("a SASL token is never dispatched")
        case .answer(let response):
            if completedLogin {
                frames?.maximumFrameSize = maxFrameSize
                broker.metrics.authentication(succeeded: true)
                logger[metadataKey: "principal"] = "\(authenticator?.principal?.description ?? "")"
            }
            let sequence = nextSequence
            nextSequence += 1
            // An answer without parts (PLAIN's last raw token) is written as nothing.
            finished[sequence] = response.parts.isEmpty ? .some(nil) : .some(response)
            writeInOrder(context: context)
        case .answerAndClose(let response, let reason):
            broker.metrics.authentication(succeeded: false)
            failAuthentication(answer: response, reason: reason, context: context)
        case .close(let reason):
            close(context: context, reason: reason)
        }
    }

    /// Kafka's delayed close after a failed login: the answer goes out after
    /// `connection.failed.authentication.delay.ms` and the connection closes behind it, so a
    /// client guessing passwords gets one guess per delay per connection.
    private func failAuthentication(answer: OutgoingResponse, reason: String, context: ChannelHandlerContext) {
        authenticationFailed = true
        setReading(false, context: context)
        logger.info("failed authentication", metadata: ["reason": "\(reason)"])
        let sequence = nextSequence
        nextSequence += 1
        let delay = authenticator?.settings.failedAuthenticationDelayMs ?? 0
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .milliseconds(delay)) {
            let (handler, context) = loopBound.value
            guard !handler.closing else { return }
            handler.finished[sequence] = .some(answer)
            handler.writeInOrder(context: context)
            handler.closing = true
            handler.releasePending()
            context.close(promise: nil)
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
    /// The listener the request came in on.
    var listenerName = "PLAINTEXT"
    /// Who the connection authenticated as (`User:ANONYMOUS` without SASL).
    var principal = KafkaPrincipal.anonymous

    var version: Int16 { frame.apiVersion }
    var correlationId: Int32 { frame.correlationId }

    /// This broker's address on the listener the request came in on.
    var advertised: (host: String, port: Int32) {
        let endpoint = broker.advertised(on: listenerName)
        return (endpoint.host, Int32(endpoint.port))
    }

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
