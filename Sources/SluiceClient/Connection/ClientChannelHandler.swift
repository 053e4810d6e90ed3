import KafkaProtocol
import NIOCore

/// A request on its way out: its frame, and where its response goes (none for acks=0 produce).
struct OutgoingRequest {
    let frame: ByteBuffer
    let correlationId: Int32
    let responseHeaderVersion: Int16
    let promise: EventLoopPromise<ByteBuffer>?
}

/// Matches responses to requests by correlation id. Kafka answers a connection's requests in
/// order; anything else means the stream is broken and the connection is closed.
final class ClientChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutgoingRequest
    typealias OutboundOut = ByteBuffer

    private var pending: [(correlationId: Int32, headerVersion: Int16, promise: EventLoopPromise<ByteBuffer>)] = []
    private var pendingStart = 0
    private var closedError: KafkaClientError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        if let closedError {
            request.promise?.fail(closedError)
            promise?.fail(closedError)
            return
        }
        if let responsePromise = request.promise {
            pending.append((request.correlationId, request.responseHeaderVersion, responsePromise))
        }
        context.write(Self.wrapOutboundOut(request.frame), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = Self.unwrapInboundIn(data)
        guard let correlationId: Int32 = frame.readInteger() else {
            return fail(context: context, KafkaClientError(kind: .protocolViolation, message: "response shorter than its header"))
        }
        guard pendingStart < pending.count, pending[pendingStart].correlationId == correlationId else {
            return fail(context: context, KafkaClientError(kind: .protocolViolation,
                                                          message: "response for correlation id \(correlationId) that is not next"))
        }
        let entry = pending[pendingStart]
        pendingStart += 1
        if pendingStart > 64 && pendingStart * 2 > pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
        if entry.headerVersion >= 1 {
            do {
                try frame.readKafkaTaggedFields { _, _ in }
            } catch {
                entry.promise.fail(KafkaClientError(kind: .protocolViolation, message: "response header: \(error)"))
                return
            }
        }
        entry.promise.succeed(frame)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error as? KafkaClientError ?? KafkaClientError(kind: .connection, message: "\(error)"))
    }

    func channelInactive(context: ChannelHandlerContext) {
        failPending(KafkaClientError(kind: .connection, message: "connection closed"))
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ error: KafkaClientError) {
        failPending(error)
        context.close(promise: nil)
    }

    private func failPending(_ error: KafkaClientError) {
        if closedError == nil { closedError = error }
        let waiting = pending[pendingStart...]
        pending.removeAll()
        pendingStart = 0
        for entry in waiting { entry.promise.fail(error) }
    }
}
