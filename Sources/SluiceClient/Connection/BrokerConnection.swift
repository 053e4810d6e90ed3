import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One TCP connection to one broker: requests are pipelined (many in flight), answered in
/// order, and decoded at the version negotiated with ApiVersions when the connection opened.
public final class BrokerConnection: Sendable {
    public let address: BrokerAddress
    /// The broker's supported range for each API key it advertised.
    public let brokerVersions: [ApiKey: ClosedRange<Int16>]
    private let channel: any Channel
    private let clientId: String
    private let versionCaps: [ApiKey: Int16]
    private let correlationIds = Atomic<Int32>(1)

    private init(address: BrokerAddress, channel: any Channel, clientId: String, brokerVersions: [ApiKey: ClosedRange<Int16>],
                 versionCaps: [ApiKey: Int16] = [:]) {
        self.versionCaps = versionCaps
        self.address = address
        self.channel = channel
        self.clientId = clientId
        self.brokerVersions = brokerVersions
    }

    /// Connects and negotiates versions: ApiVersions v3, or v0 when the broker answers that it
    /// does not know v3 (its answer then lists the versions it does know).
    public static func connect(to address: BrokerAddress, clientId: String, connectTimeout: Duration, requestTimeout: Duration,
                               versionCaps: [ApiKey: Int16] = [:], sasl: SaslConfig? = nil, maximumResponseSize: Int = 256 << 20,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                               localAddress: SocketAddress? = nil) async throws -> BrokerConnection {
        let channel: any Channel
        do {
            var bootstrap = ClientBootstrap(group: group)
            // Brokers bind their connections to their own listener address, so a test can cut
            // the link between two brokers that share one machine (127.0.0.1, .2, .3).
            if let localAddress { bootstrap = bootstrap.bind(to: localAddress) }
            channel = try await bootstrap
                .connectTimeout(.nanoseconds(Int64(connectTimeout.components.seconds) * 1_000_000_000
                                             + connectTimeout.components.attoseconds / 1_000_000_000))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(KafkaFrameHandler(frames: KafkaFrameDecoder(maximumFrameSize: maximumResponseSize)))
                        try sync.addHandler(ClientChannelHandler())
                    }
                }
                .connect(host: address.host, port: address.port).get()
        } catch {
            throw ConnectFailure(error).clientError(address)
        }
        let bare = BrokerConnection(address: address, channel: channel, clientId: clientId, brokerVersions: [:])
        do {
            var answer = try await bare.send(ApiVersionsRequest(clientSoftwareName: "sluice-swift", clientSoftwareVersion: SluiceVersion.current),
                                             version: 3, timeout: requestTimeout)
            if answer.errorCode == KafkaErrorCode.unsupportedVersion.rawValue {
                answer = try await bare.send(ApiVersionsRequest(), version: 0, timeout: requestTimeout)
            }
            guard answer.errorCode == 0 else { throw KafkaClientError.broker(KafkaErrorCode(rawValue: answer.errorCode), "ApiVersions") }
            var versions: [ApiKey: ClosedRange<Int16>] = [:]
            for entry in answer.apiKeys where entry.minVersion <= entry.maxVersion {
                versions[ApiKey(rawValue: entry.apiKey)] = entry.minVersion...entry.maxVersion
            }
            let connection = BrokerConnection(address: address, channel: channel, clientId: clientId, brokerVersions: versions,
                                              versionCaps: versionCaps)
            if let sasl { _ = try await connection.authenticate(sasl, timeout: requestTimeout) }
            return connection
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    public var isActive: Bool { channel.isActive }

    /// Completes once the connection is closed and torn down.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// The highest version both this client (`clientRange`) and the broker speak.
    public func version(for key: ApiKey, clientRange: ClosedRange<Int16>) throws -> Int16 {
        var clientRange = clientRange
        if let cap = versionCaps[key], cap >= clientRange.lowerBound { clientRange = clientRange.lowerBound...min(cap, clientRange.upperBound) }
        guard let broker = brokerVersions[key], broker.overlaps(clientRange) else {
            throw KafkaClientError(kind: .protocolViolation,
                                   message: "\(address) does not support \(key) versions \(clientRange) (it supports \(brokerVersions[key].map { "\($0)" } ?? "none"))")
        }
        return min(broker.upperBound, clientRange.upperBound)
    }

    /// Sends a request at the highest common version within `clientRange`.
    public func send<R: KafkaRequest>(_ request: R, versions clientRange: ClosedRange<Int16>, timeout: Duration) async throws -> (R.Response, Int16) {
        let version = try version(for: R.apiKey, clientRange: clientRange)
        return (try await send(request, version: version, timeout: timeout), version)
    }

    /// Sends a request and waits for its response, failing after `timeout` (the connection is
    /// then closed: later responses could not be matched reliably).
    public func send<R: KafkaRequest>(_ request: R, version: Int16, timeout: Duration) async throws -> R.Response {
        try await start(request, version: version, timeout: timeout).response()
    }

    /// Writes a request now and returns a handle to await its response with. Requests started
    /// one after another from one task reach the broker in that order, which is what a producer
    /// needs to pipeline several batches of one partition (`send` from separate tasks gives no
    /// such order).
    public func start<R: KafkaRequest>(_ request: R, version: Int16, timeout: Duration) throws -> PendingResponse<R.Response> {
        PendingResponse(body: try startRaw(request, version: version, expectResponse: true, timeout: timeout), version: version,
                        apiKey: R.apiKey, address: address)
    }

    /// Sends a request no response comes for (Produce with acks=0): done once written.
    public func sendWithoutResponse<R: KafkaRequest>(_ request: R, version: Int16) async throws {
        do {
            _ = try await startRaw(request, version: version, expectResponse: false, timeout: .seconds(30)).get()
        } catch let error as KafkaClientError {
            throw error
        } catch {
            throw KafkaClientError(kind: .connection, message: "\(address): \(error)")
        }
    }

    /// Encodes and writes the frame at once; the future completes with the response body (or,
    /// without a response, once written).
    private func startRaw<R: KafkaRequest>(_ request: R, version: Int16, expectResponse: Bool, timeout: Duration) throws
        -> EventLoopFuture<ByteBuffer> {
        guard let spec = R.apiKey.spec else { throw KafkaClientError(kind: .protocolViolation, message: "unknown API \(R.apiKey)") }
        let correlationId = correlationIds.wrappingAdd(1, ordering: .relaxed).oldValue
        var frame = channel.allocator.buffer(capacity: 256)
        do {
            try frame.writeKafkaRequest(request, version: version, correlationId: correlationId, clientId: clientId)
        } catch {
            throw KafkaClientError(kind: .invalidArgument, message: "cannot encode \(R.apiKey) v\(version): \(error)")
        }
        let loop = channel.eventLoop
        let written = loop.makePromise(of: Void.self)
        guard expectResponse else {
            channel.writeAndFlush(OutgoingRequest(frame: frame, correlationId: correlationId, responseHeaderVersion: 0, promise: nil),
                                  promise: written)
            return written.futureResult.map { ByteBuffer() }
        }
        let response = loop.makePromise(of: ByteBuffer.self)
        let headerVersion = spec.responseHeaderVersion(forApiVersion: version)
        channel.writeAndFlush(OutgoingRequest(frame: frame, correlationId: correlationId, responseHeaderVersion: headerVersion,
                                              promise: response), promise: written)
        let channel = self.channel
        let address = self.address
        // A write that never reached the handler (the channel closed just before it, and a
        // closed pipeline has no handlers left) would otherwise leave its response waiting
        // forever; completing a promise twice is a no-op, so both paths may fail it.
        written.futureResult.whenFailure { error in
            response.fail(error as? KafkaClientError ?? KafkaClientError(kind: .connection, message: "\(address): \(error)"))
        }
        // The handler fails every pending request with this error and closes the connection;
        // the promise is failed here too in case no handler is left to do it.
        let timer = loop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                      + timeout.components.attoseconds / 1_000_000_000)) {
            let error = KafkaClientError(kind: .timeout, message: "\(R.apiKey) to \(address) timed out after \(timeout)")
            channel.pipeline.fireErrorCaught(error)
            response.fail(error)
        }
        response.futureResult.whenComplete { _ in timer.cancel() }
        return response.futureResult
    }

    public func close() {
        channel.close(promise: nil)
    }
}

/// A request already written; `response()` waits for and decodes its answer.
public struct PendingResponse<Response: KafkaResponse>: Sendable {
    let body: EventLoopFuture<ByteBuffer>
    let version: Int16
    let apiKey: ApiKey
    let address: BrokerAddress

    public func response() async throws -> Response {
        var bytes: ByteBuffer
        do {
            bytes = try await body.get()
        } catch let error as KafkaClientError {
            throw error
        } catch {
            throw KafkaClientError(kind: .connection, message: "\(address): \(error)")
        }
        do {
            return try Response(from: &bytes, version: version)
        } catch {
            throw KafkaClientError(kind: .protocolViolation, message: "\(apiKey) v\(version) response: \(error)")
        }
    }
}
