import KafkaProtocol
import NIOCore

/// SaslHandshake (v1) and SaslAuthenticate (v0-2) that reach the dispatcher: on a PLAINTEXT
/// listener, or SaslAuthenticate on a connection already logged in. A SASL listener's
/// `SaslAuthenticator` takes the others before any handler. Kafka's KafkaApis answers these
/// with ILLEGAL_SASL_STATE, and so does Sluice.
enum SaslHandlers {
    static func handshake(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        _ = try request.decode(SaslHandshakeRequest.self)
        return request.respond(SaslHandshakeResponse(errorCode: KafkaErrorCode.illegalSaslState.rawValue, mechanisms: []))
    }

    static func authenticate(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        _ = try request.decode(SaslAuthenticateRequest.self)
        let message = request.principal == .anonymous
            ? "SaslAuthenticate request received on a listener without SASL"
            : "SaslAuthenticate request received after successful authentication"
        return request.respond(SaslAuthenticateResponse(errorCode: KafkaErrorCode.illegalSaslState.rawValue, errorMessage: message))
    }
}
