/// The server side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677), as Kafka's ScramSaslServer runs
/// it: client-first → server-first (the client's nonce plus ours, the user's salt and
/// iterations) → client-final, whose proof must match the stored key → server-final (our
/// signature, so the client knows we hold the credential too).
public struct ScramServerExchange: SaslServerExchange {
    private enum State {
        case awaitingClientFirst
        case awaitingClientFinal(user: String, credential: ScramCredential, clientFirstBare: String, serverFirst: String,
                                 nonce: String, gs2Header: String)
        case finished
    }

    public let scram: ScramMechanism
    public var mechanism: String { scram.name }
    private let credentials: @Sendable (String) -> ScramCredential?
    private let serverNonce: String
    private var state = State.awaitingClientFirst

    public init(mechanism: ScramMechanism, credentials: @escaping @Sendable (String) -> ScramCredential?,
                serverNonce: String = ScramNonce.make()) {
        self.scram = mechanism
        self.credentials = credentials
        self.serverNonce = serverNonce
    }

    /// Kafka tells the client only this, whatever went wrong in SCRAM's arithmetic.
    private var invalidCredentials: String {
        "Authentication failed during authentication due to invalid credentials with SASL mechanism \(scram.name)"
    }

    public mutating func evaluate(_ token: [UInt8]) throws(SaslFailure) -> SaslServerStep {
        let current = state
        state = .finished
        switch current {
        case .awaitingClientFirst:
            guard let first = ScramMessages.parseClientFirst(token) else {
                throw SaslFailure(clientMessage: invalidCredentials, reason: "malformed SCRAM client-first message")
            }
            guard first.authorizationId.isEmpty || first.authorizationId == first.user else {
                throw SaslFailure(clientMessage: "Authentication failed: Client requested an authorization id that is different from username")
            }
            if first.extensions["tokenauth"]?.lowercased() == "true" {
                throw SaslFailure(clientMessage: invalidCredentials, reason: "delegation tokens are not supported")
            }
            guard let credential = credentials(first.user) else {
                throw SaslFailure(clientMessage: invalidCredentials, reason: "unknown SCRAM user \(first.user)")
            }
            let nonce = first.nonce + serverNonce
            let serverFirst = ScramMessages.formatServerFirst(nonce: nonce, salt: credential.salt, iterations: credential.iterations)
            state = .awaitingClientFinal(user: first.user, credential: credential, clientFirstBare: first.bare,
                                         serverFirst: serverFirst, nonce: nonce, gs2Header: first.gs2Header)
            return .challenge(Array(serverFirst.utf8))
        case .awaitingClientFinal(let user, let credential, let clientFirstBare, let serverFirst, let nonce, let gs2Header):
            guard let final = ScramMessages.parseClientFinal(token) else {
                throw SaslFailure(clientMessage: invalidCredentials, reason: "malformed SCRAM client-final message")
            }
            // Kafka's check is endsWith, not equality: librdkafka before 2.1 sends its own nonce
            // again in front of the combined one, and Kafka accepts that.
            guard final.nonce.hasSuffix(nonce) else {
                throw SaslFailure(clientMessage: invalidCredentials, reason: "invalid client nonce in the final client message")
            }
            guard final.channelBinding == Array(gs2Header.utf8) else {
                throw SaslFailure(clientMessage: invalidCredentials, reason: "channel binding does not match the gs2 header")
            }
            let authMessage = Array("\(clientFirstBare),\(serverFirst),\(final.withoutProof)".utf8)
            let clientSignature = scram.hmac(key: credential.storedKey, authMessage)
            guard final.proof.count == clientSignature.count else {
                throw SaslFailure(clientMessage: invalidCredentials, reason: "client proof of the wrong length for user \(user)")
            }
            let clientKey = zip(final.proof, clientSignature).map { $0 ^ $1 }
            guard constantTimeEquals(scram.hash(clientKey), credential.storedKey) else {
                throw SaslFailure(clientMessage: invalidCredentials, reason: "invalid client proof for user \(user)")
            }
            let serverSignature = scram.hmac(key: credential.serverKey, authMessage)
            return .complete(user: user, finalToken: Array("v=\(Base64.encode(serverSignature))".utf8))
        case .finished:
            throw SaslFailure(clientMessage: invalidCredentials, reason: "SCRAM token after the exchange ended")
        }
    }
}
