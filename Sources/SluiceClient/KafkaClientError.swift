import KafkaProtocol

/// What went wrong in a client call: a Kafka error code from the broker, or a failure on the
/// client's side (connection, timeout, protocol), and whether trying again may succeed.
public struct KafkaClientError: Error, CustomStringConvertible, Sendable {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The broker answered with a Kafka error code.
        public static let broker = Kind(name: "broker")
        /// Connecting failed or the connection closed under a request.
        public static let connection = Kind(name: "connection")
        /// No answer within the request timeout.
        public static let timeout = Kind(name: "timeout")
        /// A response could not be read, or no API version both sides speak.
        public static let protocolViolation = Kind(name: "protocol")
        /// The call was invalid before anything was sent (bad configuration or arguments).
        public static let invalidArgument = Kind(name: "invalid argument")
        /// The client was shut down.
        public static let shutdown = Kind(name: "shutdown")
        /// A transactional record was never sent because its transaction was aborted first.
        public static let transactionAborted = Kind(name: "transaction aborted")
        /// A transactional call made in the wrong state (`send` outside a transaction, a commit
        /// after a failed send): what the Java client's IllegalStateException and
        /// KafkaException("... abortable error") say.
        public static let invalidState = Kind(name: "invalid state")
        public var description: String { name }
    }

    public let kind: Kind
    /// The broker's error code when `kind` is `.broker`.
    public let code: KafkaErrorCode?
    public let message: String
    /// The operating system's error number when connecting failed with one (`ECONNREFUSED`:
    /// nothing listens at that address), so callers can say what to do about it.
    public let systemErrorCode: Int32?

    public init(kind: Kind, code: KafkaErrorCode? = nil, message: String, systemErrorCode: Int32? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.systemErrorCode = systemErrorCode
    }

    public static func broker(_ code: KafkaErrorCode, _ message: String? = nil) -> KafkaClientError {
        KafkaClientError(kind: .broker, code: code, message: message ?? code.name)
    }

    /// Kafka's retriable codes, timeouts and lost connections: the same request may succeed later.
    public var isRetriable: Bool {
        switch kind {
        case .broker: return code?.isRetriable ?? false
        case .connection, .timeout: return true
        default: return false
        }
    }

    public var description: String {
        if let code { return "\(code.name) (\(code.rawValue)): \(message)" }
        return "\(kind): \(message)"
    }
}
