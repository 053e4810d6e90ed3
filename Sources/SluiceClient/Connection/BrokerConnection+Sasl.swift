import KafkaProtocol
import NIOCore
import SluiceSASL

extension BrokerConnection {
    /// Logs in on a fresh connection, before any other request: SaslHandshake v1, then
    /// SaslAuthenticate until the mechanism completes (for SCRAM, after checking the broker's
    /// signature). Fails with the broker's error code (SASL_AUTHENTICATION_FAILED,
    /// UNSUPPORTED_SASL_MECHANISM), which is not retriable.
    ///
    /// The session lifetime a broker with `connections.max.reauth.ms` gives is returned; this
    /// client does not re-authenticate in place (KIP-368), so such a broker closes the
    /// connection when it runs out and the client opens a new one.
    func authenticate(_ sasl: SaslConfig, timeout: Duration) async throws -> Int64 {
        let handshake = try await send(SaslHandshakeRequest(mechanism: sasl.mechanism.rawValue), version: 1, timeout: timeout)
        guard handshake.errorCode == 0 else {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: handshake.errorCode),
                                          "\(address) does not offer SASL mechanism \(sasl.mechanism.rawValue) (it offers \(handshake.mechanisms))")
        }
        let version = try version(for: .saslAuthenticate, clientRange: 0...2)
        var exchange = sasl.makeExchange()
        var token: [UInt8]? = exchange.initialToken()
        var lifetimeMs: Int64 = 0
        while let outgoing = token {
            let answer = try await send(SaslAuthenticateRequest(authBytes: ByteBuffer(bytes: outgoing)), version: version, timeout: timeout)
            guard answer.errorCode == 0 else {
                throw KafkaClientError.broker(KafkaErrorCode(rawValue: answer.errorCode),
                                              answer.errorMessage ?? "SASL authentication as \(sasl.username) failed")
            }
            lifetimeMs = answer.sessionLifetimeMs
            do {
                token = try exchange.respond(to: Array(buffer: answer.authBytes))
            } catch {
                throw KafkaClientError(kind: .broker, code: .saslAuthenticationFailed, message: error.clientMessage)
            }
        }
        return lifetimeMs
    }
}
