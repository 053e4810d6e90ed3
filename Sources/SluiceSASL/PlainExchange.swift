/// SASL/PLAIN (RFC 4616): one message `[authzid] NUL authcid NUL password`, checked against
/// the users a listener's JAAS configuration lists. Messages and checks follow Kafka's
/// PlainSaslServer.
public struct PlainServerExchange: SaslServerExchange {
    public let mechanism = "PLAIN"
    /// The password of a user, nil for an unknown one.
    private let passwords: @Sendable (String) -> String?
    private var done = false

    public init(passwords: @escaping @Sendable (String) -> String?) {
        self.passwords = passwords
    }

    public mutating func evaluate(_ token: [UInt8]) throws(SaslFailure) -> SaslServerStep {
        guard !done else { throw SaslFailure(clientMessage: "Authentication failed: PLAIN exchange already completed") }
        done = true
        let parts = token.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw SaslFailure(clientMessage: "Invalid SASL/PLAIN response: expected 3 tokens, got \(parts.count)")
        }
        let authorizationId = String(decoding: parts[0], as: UTF8.self)
        let user = String(decoding: parts[1], as: UTF8.self)
        let password = Array(parts[2])
        guard !user.isEmpty else { throw SaslFailure(clientMessage: "Authentication failed: username not specified") }
        guard !password.isEmpty else { throw SaslFailure(clientMessage: "Authentication failed: password not specified") }
        guard authorizationId.isEmpty || authorizationId == user else {
            throw SaslFailure(clientMessage: "Authentication failed: Client requested an authorization id that is different from username")
        }
        // An unknown user costs the same comparison as a wrong password.
        let expected = passwords(user).map { Array($0.utf8) }
        let matches = constantTimeEquals(expected ?? password.map { ~$0 }, password) && expected != nil
        guard matches else {
            throw SaslFailure(clientMessage: "Authentication failed: Invalid username or password",
                              reason: "invalid username or password for user \(user)")
        }
        return .complete(user: user, finalToken: [])
    }
}

public struct PlainClientExchange: SaslClientExchange {
    public let mechanism = "PLAIN"
    private let username: String
    private let password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public mutating func initialToken() -> [UInt8] {
        [0] + Array(username.utf8) + [0] + Array(password.utf8)
    }

    public mutating func respond(to challenge: [UInt8]) throws(SaslFailure) -> [UInt8]? {
        guard challenge.isEmpty else { throw SaslFailure(clientMessage: "unexpected PLAIN challenge from the server") }
        return nil
    }
}
