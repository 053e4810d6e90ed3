import Testing
@testable import SluiceSASL

/// RFC 7677 §3's SCRAM-SHA-256 exchange, byte for byte, from both sides; then what a server must
/// refuse.
@Suite struct ScramExchangeTests {
    static let clientNonce = "rOprNGfwEbeRWgbNEkqO"
    static let serverNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    static let salt = Base64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")!
    static let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let clientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let serverFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

    static let pencil = ScramCredential(mechanism: .sha256, password: "pencil", iterations: 4096, salt: salt)

    static func server(_ users: [String: ScramCredential] = ["user": pencil], mechanism: ScramMechanism = .sha256,
                       nonce: String = serverNonce) -> ScramServerExchange {
        ScramServerExchange(mechanism: mechanism, credentials: { users[$0] }, serverNonce: nonce)
    }

    @Test func clientMatchesRfc7677() throws {
        var client = ScramClientExchange(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.clientNonce)
        #expect(String(decoding: client.initialToken(), as: UTF8.self) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let final = try client.respond(to: Array(Self.serverFirst.utf8))
        #expect(final.map { String(decoding: $0, as: UTF8.self) } == Self.clientFinal)
        #expect(try client.respond(to: Array(Self.serverFinal.utf8)) == nil)
    }

    @Test func serverMatchesRfc7677() throws {
        var server = Self.server()
        let first = try server.evaluate(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        #expect(first == .challenge(Array(Self.serverFirst.utf8)))
        let last = try server.evaluate(Array(Self.clientFinal.utf8))
        #expect(last == .complete(user: "user", finalToken: Array(Self.serverFinal.utf8)))
    }

    @Test func clientRefusesAServerWithoutTheCredential() throws {
        var client = ScramClientExchange(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.clientNonce)
        _ = client.initialToken()
        _ = try client.respond(to: Array(Self.serverFirst.utf8))
        #expect(throws: SaslFailure.self) { try client.respond(to: Array("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".utf8)) }
    }

    @Test func clientRefusesAServerNonceThatDoesNotExtendItsOwn() {
        var client = ScramClientExchange(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.clientNonce)
        _ = client.initialToken()
        #expect(throws: SaslFailure.self) { try client.respond(to: Array("r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8)) }
    }

    @Test func clientRefusesTooFewIterations() {
        var client = ScramClientExchange(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.clientNonce)
        _ = client.initialToken()
        #expect(throws: SaslFailure.self) { try client.respond(to: Array("r=\(Self.clientNonce)x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1".utf8)) }
    }

    @Test(arguments: ScramMechanism.allCases)
    func bothSidesAgree(mechanism: ScramMechanism) throws {
        let credential = ScramCredential(mechanism: mechanism, password: "sécret,=", iterations: 4096)
        var server = Self.server(["al,ice=": credential], mechanism: mechanism, nonce: ScramNonce.make())
        var client = ScramClientExchange(mechanism: mechanism, username: "al,ice=", password: "sécret,=")
        guard case .challenge(let serverFirst) = try server.evaluate(client.initialToken()) else { Issue.record("no challenge"); return }
        let clientFinal = try #require(try client.respond(to: serverFirst))
        guard case .complete(let user, let serverFinal) = try server.evaluate(clientFinal) else { Issue.record("not complete"); return }
        #expect(user == "al,ice=")
        #expect(try client.respond(to: serverFinal) == nil)
    }

    /// A wrong password and an unknown user get the same words, so a client cannot probe for users.
    @Test func wrongPasswordAndUnknownUserLookAlike() throws {
        var wrongPassword = Self.server()
        var client = ScramClientExchange(mechanism: .sha256, username: "user", password: "crayon")
        guard case .challenge(let serverFirst) = try wrongPassword.evaluate(client.initialToken()) else { Issue.record("no challenge"); return }
        let final = try #require(try client.respond(to: serverFirst))
        let passwordFailure = #expect(throws: SaslFailure.self) { try wrongPassword.evaluate(final) }
        var unknown = Self.server()
        var stranger = ScramClientExchange(mechanism: .sha256, username: "nobody", password: "pencil")
        let userFailure = #expect(throws: SaslFailure.self) { try unknown.evaluate(stranger.initialToken()) }
        #expect(passwordFailure?.clientMessage == userFailure?.clientMessage)
        #expect(passwordFailure?.clientMessage == "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256")
        #expect(passwordFailure?.reason.contains("crayon") == false)
    }

    @Test func serverRefusesATamperedNonceOrProof() throws {
        var server = Self.server()
        _ = try server.evaluate(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        let wrongNonce = Self.clientFinal.replacingFirst("r=rOpr", with: "r=XOpr")
        #expect(throws: SaslFailure.self) { try server.evaluate(Array(wrongNonce.utf8)) }

        var again = Self.server()
        _ = try again.evaluate(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        let wrongProof = Self.clientFinal.replacingFirst("p=dHzb", with: "p=eHzb")
        #expect(throws: SaslFailure.self) { try again.evaluate(Array(wrongProof.utf8)) }

        var shortProof = Self.server()
        _ = try shortProof.evaluate(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        #expect(throws: SaslFailure.self) { try shortProof.evaluate(Array("c=biws,r=\(Self.clientNonce)\(Self.serverNonce),p=AAAA".utf8)) }
    }

    @Test func serverRefusesATokenAfterTheEnd() throws {
        var server = Self.server()
        _ = try server.evaluate(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        _ = try server.evaluate(Array(Self.clientFinal.utf8))
        #expect(throws: SaslFailure.self) { try server.evaluate(Array(Self.clientFinal.utf8)) }
    }

    @Test(arguments: [
        "", "y,,n=user,r=abc", "p=tls-unique,,n=user,r=abc", "n,,r=abc,n=user", "n,,n=,r=abc", "n,,n=us=er,r=abc",
        "n,,n=user,r=", "n,,n=user", "n,a=other,n=user,r=abc", "n,,n=user,r=abc,tokenauth=true", "n,,n=user,r=ab c",
        "\u{FF}\u{FE}",
    ])
    func serverRefusesMalformedClientFirst(message: String) {
        var server = Self.server()
        #expect(throws: SaslFailure.self) { try server.evaluate(Array(message.utf8)) }
    }

    @Test(arguments: ["", "c=biws,r=x", "c=biws,p=AAAA", "c=!!,r=x,p=AAAA", "r=x,c=biws,p=AAAA", "c=biws,r=x,p=###"])
    func serverRefusesMalformedClientFinal(message: String) throws {
        var server = Self.server()
        _ = try server.evaluate(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        #expect(throws: SaslFailure.self) { try server.evaluate(Array(message.utf8)) }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        return self[..<range.lowerBound] + replacement + self[range.upperBound...]
    }
}

extension ScramExchangeTests {
    /// librdkafka before 2.1 sends its nonce again in front of the combined one; Kafka checks
    /// only that the final nonce ends with the server's, and the proof covers what was sent.
    @Test func acceptsLibrdkafka20sRepeatedClientNonce() throws {
        var server = Self.server()
        guard case .challenge(let first) = try server.evaluate(Array("n,,n=user,r=\(Self.clientNonce)".utf8)) else {
            Issue.record("no challenge")
            return
        }
        let combined = Self.clientNonce + Self.serverNonce
        let withoutProof = "c=biws,r=\(Self.clientNonce)\(combined)"
        let salted = ScramMechanism.sha256.saltedPassword("pencil", salt: Self.salt, iterations: 4096)
        let clientKey = ScramMechanism.sha256.hmac(key: salted, Array("Client Key".utf8))
        let authMessage = Array("n=user,r=\(Self.clientNonce),\(String(decoding: first, as: UTF8.self)),\(withoutProof)".utf8)
        let signature = ScramMechanism.sha256.hmac(key: ScramMechanism.sha256.hash(clientKey), authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        let step = try server.evaluate(Array("\(withoutProof),p=\(Base64.encode(proof))".utf8))
        guard case .complete(let user, _) = step else { Issue.record("not complete"); return }
        #expect(user == "user")
    }
}
