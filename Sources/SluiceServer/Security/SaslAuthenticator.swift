import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceSASL

/// One SASL connection's authentication, as Kafka's SaslServerAuthenticator runs it: ApiVersions
/// and SaslHandshake first, then SaslAuthenticate until the mechanism completes; nothing else
/// before that. Afterwards a SaslHandshake starts a re-authentication (KIP-368) as the same
/// principal; with `connections.max.reauth.ms` set, a session that ran out without one ends the
/// connection at its next request. Owned by the connection's handler, on its event loop.
struct SaslAuthenticator {
    enum Outcome {
        /// Not an authentication request, and the connection may make it: dispatch as usual.
        case dispatch
        /// Answer with this; authentication goes on (or has just completed).
        case answer(OutgoingResponse)
        /// Answer with this, after `connection.failed.authentication.delay.ms`, then close.
        case answerAndClose(OutgoingResponse, reason: String)
        /// Close without an answer (Kafka's IllegalSaslStateException).
        case close(reason: String)
    }

    private enum State {
        case awaitingHandshake
        case awaitingAuthenticate(any SaslServerExchange)
        /// After SaslHandshake v0: the tokens come as bare size-prefixed frames, not requests.
        case awaitingRawToken(any SaslServerExchange)
        case authenticated
        case failed
    }

    let settings: ListenerSecurity
    private let security: BrokerSecurity
    private var state = State.awaitingHandshake
    /// Who the connection is once authenticated; kept through re-authentications.
    private(set) var principal: KafkaPrincipal?
    /// When the session ends, as NIODeadline nanoseconds (nil: never).
    private var sessionEnd: NIODeadline?

    init(settings: ListenerSecurity, security: BrokerSecurity) {
        self.settings = settings
        self.security = security
    }

    var isAuthenticated: Bool {
        if case .authenticated = state { return true }
        return false
    }

    /// An ordinary request on a logged-in connection whose session goes on: it needs nothing
    /// from the state machine, so the connection dispatches it without going through `handle`.
    func admits(_ key: ApiKey, now: NIODeadline) -> Bool {
        guard case .authenticated = state, key != .saslHandshake else { return false }
        return sessionEnd.map { now <= $0 } ?? true
    }

    /// The next frame is a bare SASL token (SaslHandshake v0's protocol), not a request.
    var expectsRawToken: Bool {
        if case .awaitingRawToken = state { return true }
        return false
    }

    /// A bare token after SaslHandshake v0; answers are bare size-prefixed tokens too, and a
    /// failure can only close the connection (v0 has no error field), as in Kafka.
    mutating func handleRawToken(_ token: ByteBuffer, now: NIODeadline) -> Outcome {
        guard case .awaitingRawToken(var exchange) = state else { return .close(reason: "unexpected SASL token") }
        let step: SaslServerStep
        do {
            step = try exchange.evaluate(Array(buffer: token))
        } catch {
            state = .failed
            return .answerAndClose(OutgoingResponse(parts: []), reason: "authentication with \(exchange.mechanism) failed: \(error.reason)")
        }
        var reply = ByteBuffer()
        switch step {
        case .challenge(let bytes):
            state = .awaitingRawToken(exchange)
            reply.writeInteger(Int32(bytes.count))
            reply.writeBytes(bytes)
        case .complete(let user, let finalToken):
            guard principal == nil || principal == .user(user) else {
                state = .failed
                return .close(reason: "cannot change principals during re-authentication")
            }
            principal = .user(user)
            state = .authenticated
            // PLAIN completes without a final token, and a v0 client then expects nothing back.
            guard !finalToken.isEmpty || exchange.mechanism != "PLAIN" else { return .answer(OutgoingResponse(parts: [])) }
            reply.writeInteger(Int32(finalToken.count))
            reply.writeBytes(finalToken)
        }
        return .answer(OutgoingResponse(parts: [.byteBuffer(reply)]))
    }

    mutating func handle(_ frame: KafkaRequestFrame, now: NIODeadline) -> Outcome {
        switch (state, frame.apiKey) {
        case (.authenticated, .saslHandshake):
            return handshake(frame)
        case (.authenticated, _):
            if let sessionEnd, now > sessionEnd {
                return .close(reason: "SASL session of \(principal?.description ?? "?") expired without re-authentication")
            }
            return .dispatch
        case (.awaitingHandshake, .apiVersions):
            return .dispatch
        case (.awaitingHandshake, .saslHandshake):
            return handshake(frame)
        case (.awaitingAuthenticate(let exchange), .saslAuthenticate):
            return authenticate(frame, exchange: exchange, now: now)
        case (.failed, _):
            return .close(reason: "request after a failed authentication")
        default:
            state = .failed
            return .close(reason: "unexpected Kafka request of type \(frame.apiKey) during SASL authentication")
        }
    }

    private mutating func handshake(_ frame: KafkaRequestFrame) -> Outcome {
        let offered = settings.mechanisms.map(\.rawValue)
        let request: SaslHandshakeRequest
        switch decode(SaslHandshakeRequest.self, frame) {
        case .success(let decoded): request = decoded
        case .failure(let refusal): return refusal.outcome
        }
        guard let mechanism = SaslMechanism(rawValue: request.mechanism), settings.mechanisms.contains(mechanism) else {
            state = .failed
            let answer = SaslHandshakeResponse(errorCode: KafkaErrorCode.unsupportedSaslMechanism.rawValue, mechanisms: offered)
            return encode(answer, frame, then: "unsupported SASL mechanism \(request.mechanism.prefix(64))")
        }
        state = frame.apiVersion == 0 ? .awaitingRawToken(makeExchange(mechanism)) : .awaitingAuthenticate(makeExchange(mechanism))
        return encode(SaslHandshakeResponse(errorCode: 0, mechanisms: offered), frame)
    }

    private func makeExchange(_ mechanism: SaslMechanism) -> any SaslServerExchange {
        guard let scram = mechanism.scram else {
            let users = settings.plainUsers
            return PlainServerExchange(passwords: { users[$0] })
        }
        let security = self.security
        return ScramServerExchange(mechanism: scram, credentials: { security.scramCredential(user: $0, mechanism: scram) })
    }

    private mutating func authenticate(_ frame: KafkaRequestFrame, exchange: any SaslServerExchange, now: NIODeadline) -> Outcome {
        let request: SaslAuthenticateRequest
        switch decode(SaslAuthenticateRequest.self, frame) {
        case .success(let decoded): request = decoded
        case .failure(let refusal): return refusal.outcome
        }
        var exchange = exchange
        let step: SaslServerStep
        do {
            step = try exchange.evaluate(Array(buffer: request.authBytes))
        } catch {
            state = .failed
            let answer = SaslAuthenticateResponse(errorCode: KafkaErrorCode.saslAuthenticationFailed.rawValue,
                                                  errorMessage: error.clientMessage, authBytes: ByteBuffer())
            return encode(answer, frame, then: "authentication with \(exchange.mechanism) failed: \(error.reason)")
        }
        switch step {
        case .challenge(let bytes):
            state = .awaitingAuthenticate(exchange)
            return encode(SaslAuthenticateResponse(errorCode: 0, errorMessage: nil, authBytes: ByteBuffer(bytes: bytes)), frame)
        case .complete(let user, let finalToken):
            let authenticated = KafkaPrincipal.user(user)
            if let principal, principal != authenticated {
                state = .failed
                let message = "Cannot change principals during re-authentication from \(principal): \(authenticated)"
                let answer = SaslAuthenticateResponse(errorCode: KafkaErrorCode.saslAuthenticationFailed.rawValue,
                                                      errorMessage: message, authBytes: ByteBuffer())
                return encode(answer, frame, then: message)
            }
            principal = authenticated
            state = .authenticated
            var lifetimeMs: Int64 = 0
            if settings.maxReauthenticationMs > 0 {
                lifetimeMs = settings.maxReauthenticationMs
                sessionEnd = now + .milliseconds(lifetimeMs)
            }
            return encode(SaslAuthenticateResponse(errorCode: 0, errorMessage: nil, authBytes: ByteBuffer(bytes: finalToken),
                                                   sessionLifetimeMs: lifetimeMs), frame)
        }
    }

    /// A malformed login request ends the connection, as Kafka's authenticator ends it.
    private mutating func decode<R: KafkaRequest>(_ type: R.Type, _ frame: KafkaRequestFrame) -> Result<R, Refusal> {
        do {
            var body = frame.body
            return .success(try R(from: &body, version: frame.apiVersion))
        } catch {
            state = .failed
            return .failure(Refusal(outcome: .close(reason: "malformed \(R.apiKey): \(error)")))
        }
    }

    private struct Refusal: Error {
        let outcome: Outcome
    }

    /// The answer, or, with `then`, the answer followed by the close a failure ends in.
    private func encode<R: KafkaResponse>(_ response: R, _ frame: KafkaRequestFrame, then failure: String? = nil) -> Outcome {
        do {
            let outgoing = try OutgoingResponse.encode(response, version: frame.apiVersion, correlationId: frame.correlationId)
            if let failure { return .answerAndClose(outgoing, reason: failure) }
            return .answer(outgoing)
        } catch {
            return .close(reason: "could not encode \(R.self): \(error)")
        }
    }
}
