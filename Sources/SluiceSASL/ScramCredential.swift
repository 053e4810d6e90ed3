/// What a server keeps of a SCRAM password (RFC 5802 §3): the salt, the iteration count, and two
/// keys derived from the salted password, from which the password cannot be recovered. Kafka's
/// UserScramCredentialRecord holds the same four values.
public struct ScramCredential: Sendable, Equatable {
    public var salt: [UInt8]
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]
    public var iterations: Int

    public init(salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8], iterations: Int) {
        self.salt = salt
        self.storedKey = storedKey
        self.serverKey = serverKey
        self.iterations = iterations
    }

    /// The keys of a salted password, as AlterUserScramCredentials sends it (the client salts,
    /// so the password never crosses the wire).
    public init(mechanism: ScramMechanism, saltedPassword: [UInt8], salt: [UInt8], iterations: Int) {
        let clientKey = mechanism.hmac(key: saltedPassword, Array("Client Key".utf8))
        self.init(salt: salt, storedKey: mechanism.hash(clientKey),
                  serverKey: mechanism.hmac(key: saltedPassword, Array("Server Key".utf8)), iterations: iterations)
    }

    /// A credential for `password` with a fresh random salt (or the one given).
    public init(mechanism: ScramMechanism, password: String, iterations: Int, salt: [UInt8]? = nil) {
        let salt = salt ?? ScramNonce.randomBytes(count: 32)
        self.init(mechanism: mechanism, saltedPassword: mechanism.saltedPassword(password, salt: salt, iterations: iterations),
                  salt: salt, iterations: iterations)
    }
}

/// Random bytes and nonces from the system's secure generator (getrandom on Linux).
public enum ScramNonce {
    public static func randomBytes(count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// A printable nonce without ',' (RFC 5802's "printable"): base64 of 24 random bytes.
    public static func make() -> String {
        Base64.encode(randomBytes(count: 24))
    }
}
