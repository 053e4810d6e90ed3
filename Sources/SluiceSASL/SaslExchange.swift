/// One step of a server-side SASL exchange.
public enum SaslServerStep: Sendable, Equatable {
    /// Send these bytes and wait for the client's next token.
    case challenge([UInt8])
    /// The client is who it says: `user` is authenticated; send `finalToken` (possibly empty).
    case complete(user: String, finalToken: [UInt8])
}

/// A refused exchange. `clientMessage` is what the client is told (Kafka's wording, never a
/// secret); `reason` is what the broker logs.
public struct SaslFailure: Error, Sendable, CustomStringConvertible {
    public let clientMessage: String
    public let reason: String

    public init(clientMessage: String, reason: String? = nil) {
        self.clientMessage = clientMessage
        self.reason = reason ?? clientMessage
    }

    public var description: String { reason }
}

/// The server side of one mechanism's exchange: tokens in, challenges out, until it completes
/// or fails. A failed or completed exchange refuses further tokens.
public protocol SaslServerExchange: Sendable {
    var mechanism: String { get }
    mutating func evaluate(_ token: [UInt8]) throws(SaslFailure) -> SaslServerStep
}

/// The client side: the first token, then a reply to each challenge until the server completes.
public protocol SaslClientExchange: Sendable {
    var mechanism: String { get }
    mutating func initialToken() -> [UInt8]
    /// nil once the exchange needs nothing more (its last server token verified).
    mutating func respond(to challenge: [UInt8]) throws(SaslFailure) -> [UInt8]?
}
