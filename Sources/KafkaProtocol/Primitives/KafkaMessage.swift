import NIOCore

/// A Kafka protocol structure that encodes and decodes itself at a given version.
public protocol KafkaMessage: Hashable, Sendable {
    /// The versions this message defines (`validVersions` in its spec).
    static var validVersions: ClosedRange<Int16> { get }
    /// The first version that uses compact encodings and tagged fields, or nil when none does.
    static var firstFlexibleVersion: Int16? { get }

    init(from buffer: inout ByteBuffer, version: Int16) throws
    func write(to buffer: inout ByteBuffer, version: Int16) throws
}

extension KafkaMessage {
    public static func isFlexible(version: Int16) -> Bool {
        guard let first = firstFlexibleVersion else { return false }
        return version >= first
    }

    /// Encodes into a new buffer.
    public func encoded(version: Int16) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try self.write(to: &buffer, version: version)
        return buffer
    }
}

/// A request body; `Response` is the body that answers it.
public protocol KafkaRequest: KafkaMessage {
    associatedtype Response: KafkaResponse
    static var apiKey: ApiKey { get }
}

/// A response body.
public protocol KafkaResponse: KafkaMessage {
    static var apiKey: ApiKey { get }
}
