/// Who a connection acts as, in Kafka's form `Type:name` (`User:alice`). PLAINTEXT connections
/// are `User:ANONYMOUS`; SASL ones the authenticated user.
public struct KafkaPrincipal: Sendable, Hashable, CustomStringConvertible {
    public var type: String
    public var name: String

    public init(type: String = "User", name: String) {
        self.type = type
        self.name = name
    }

    public static let anonymous = KafkaPrincipal(name: "ANONYMOUS")

    public static func user(_ name: String) -> KafkaPrincipal { KafkaPrincipal(name: name) }

    public var description: String { "\(type):\(name)" }
}
