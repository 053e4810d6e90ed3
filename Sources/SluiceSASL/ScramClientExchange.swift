/// The client side of SCRAM-SHA-256/512: sends the user and a nonce, proves the password against
/// the server's salt, and checks the server's signature before trusting it.
public struct ScramClientExchange: SaslClientExchange {
    private enum State {
        case initial
        case sentFirst
        case sentFinal(serverSignature: [UInt8])
        case finished
    }

    public let scram: ScramMechanism
    public var mechanism: String { scram.name }
    private let username: String
    private let password: String
    private let clientNonce: String
    private var state = State.initial

    public init(mechanism: ScramMechanism, username: String, password: String, clientNonce: String = ScramNonce.make()) {
        self.scram = mechanism
        self.username = username
        self.password = password
        self.clientNonce = clientNonce
    }

    private var clientFirstBare: String { "n=\(ScramMessages.encodeSaslName(username)),r=\(clientNonce)" }

    public mutating func initialToken() -> [UInt8] {
        state = .sentFirst
        return Array(ScramMessages.formatClientFirst(user: username, nonce: clientNonce).utf8)
    }

    public mutating func respond(to challenge: [UInt8]) throws(SaslFailure) -> [UInt8]? {
        let current = state
        state = .finished
        switch current {
        case .sentFirst:
            guard let serverFirst = ScramMessages.parseServerFirst(challenge) else {
                throw SaslFailure(clientMessage: "malformed SCRAM server-first message")
            }
            guard serverFirst.nonce.hasPrefix(clientNonce), serverFirst.nonce.count > clientNonce.count else {
                throw SaslFailure(clientMessage: "the server's SCRAM nonce does not extend ours")
            }
            guard serverFirst.iterations >= ScramMechanism.minIterations else {
                throw SaslFailure(clientMessage: "Requested iterations \(serverFirst.iterations) is less than the minimum "
                                  + "\(ScramMechanism.minIterations) for \(scram.name)")
            }
            let salted = scram.saltedPassword(password, salt: serverFirst.salt, iterations: serverFirst.iterations)
            let clientKey = scram.hmac(key: salted, Array("Client Key".utf8))
            let storedKey = scram.hash(clientKey)
            let withoutProof = "c=\(Base64.encode(Array("n,,".utf8))),r=\(serverFirst.nonce)"
            let authMessage = Array("\(clientFirstBare),\(serverFirst.text),\(withoutProof)".utf8)
            let clientSignature = scram.hmac(key: storedKey, authMessage)
            let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
            let serverKey = scram.hmac(key: salted, Array("Server Key".utf8))
            state = .sentFinal(serverSignature: scram.hmac(key: serverKey, authMessage))
            return Array("\(withoutProof),p=\(Base64.encode(proof))".utf8)
        case .sentFinal(let expected):
            switch ScramMessages.parseServerFinal(challenge) {
            case .verifier(let signature)?:
                guard constantTimeEquals(signature, expected) else {
                    throw SaslFailure(clientMessage: "the server's SCRAM signature is wrong: it does not hold this credential")
                }
                return nil
            case .error(let error)?:
                throw SaslFailure(clientMessage: "SCRAM error from the server: \(error)")
            case nil:
                throw SaslFailure(clientMessage: "malformed SCRAM server-final message")
            }
        case .initial, .finished:
            throw SaslFailure(clientMessage: "unexpected SCRAM challenge")
        }
    }
}
