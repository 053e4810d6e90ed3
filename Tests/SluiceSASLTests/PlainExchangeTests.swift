import Testing
@testable import SluiceSASL

@Suite struct PlainExchangeTests {
    static func server() -> PlainServerExchange {
        PlainServerExchange(passwords: { ["alice": "alice-secret", "bob": "b"][$0] })
    }

    @Test func acceptsTheRightPassword() throws {
        var server = Self.server()
        var client = PlainClientExchange(username: "alice", password: "alice-secret")
        #expect(try server.evaluate(client.initialToken()) == .complete(user: "alice", finalToken: []))
        #expect(try client.respond(to: []) == nil)
    }

    @Test func acceptsAnAuthorizationIdEqualToTheUser() throws {
        var server = Self.server()
        #expect(try server.evaluate(Array("bob\0bob\0b".utf8)) == .complete(user: "bob", finalToken: []))
    }

    @Test(arguments: [
        ("\0alice\0wrong", "Authentication failed: Invalid username or password"),
        ("\0mallory\0alice-secret", "Authentication failed: Invalid username or password"),
        ("\0\0alice-secret", "Authentication failed: username not specified"),
        ("\0alice\0", "Authentication failed: password not specified"),
        ("bob\0alice\0alice-secret", "Authentication failed: Client requested an authorization id that is different from username"),
        ("alice\0alice-secret", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"),
        ("\0alice\0alice-secret\0", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"),
    ])
    func refuses(token: String, message: String) {
        var server = Self.server()
        let failure = #expect(throws: SaslFailure.self) { try server.evaluate(Array(token.utf8)) }
        #expect(failure?.clientMessage == message)
        #expect(failure?.reason.contains("secret") == false)
    }

    @Test func refusesASecondToken() throws {
        var server = Self.server()
        _ = try server.evaluate(Array("\0alice\0alice-secret".utf8))
        #expect(throws: SaslFailure.self) { try server.evaluate(Array("\0alice\0alice-secret".utf8)) }
    }
}

@Suite struct JaasConfigTests {
    @Test func readsKafkasPlainServerConfig() throws {
        let config = try JaasConfig(parsing: """
            org.apache.kafka.common.security.plain.PlainLoginModule required
                username="admin" password="admin-secret" // the broker's own login
                user_admin="admin-secret"
                user_alice="ali\\"ce;s=ecret" /* quoted: may hold ; = and " */
                user_bob=bare;
            """)
        #expect(config.entries.count == 1)
        #expect(config.entries[0].flag == "required")
        #expect(config.plainUsers == ["admin": "admin-secret", "alice": "ali\"ce;s=ecret", "bob": "bare"])
        #expect(config.option("username") == "admin")
        #expect(config.option("password") == "admin-secret")
    }

    @Test(arguments: [
        "", "org.Module", "org.Module required", "org.Module required a=\"b\"", "org.Module maybe;",
        "org.Module required a=;", "org.Module required a=\"open;", "org.Module required /* open", "org.Module required a;",
    ])
    func refusesMalformed(text: String) {
        #expect(throws: JaasConfigError.self) { try JaasConfig(parsing: text) }
    }
}

@Suite struct Base64Tests {
    @Test func roundTrips() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("n,,".utf8)) == "biws")
    }

    @Test(arguments: ["a", "abc", "ab=c", "a===", "ab==cd==", "ab!d", "=abc"])
    func refusesMalformed(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
