#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// Why a TCP connect failed, in words a person can act on ("connection refused", "cannot
/// resolve host"), with the errno kept for callers that want to add advice. NIO's own error
/// nests the reason inside per-address failures and prints as a debugging dump.
struct ConnectFailure {
    let reason: String
    let errorCode: Int32?

    init(_ error: any Error) {
        switch error {
        case let failure as NIOConnectionError:
            // Every address the host resolved to failed; the first one's reason speaks for all
            // (they are almost always the same).
            if let first = failure.connectionErrors.first {
                self.init(first.error)
            } else if failure.dnsAError != nil || failure.dnsAAAAError != nil {
                self.init(reason: "cannot resolve host '\(failure.host)'", errorCode: nil)
            } else {
                self.init(reason: "no address to connect to for '\(failure.host)'", errorCode: nil)
            }
        case let io as IOError:
            self.init(reason: Self.describe(errno: io.errnoCode), errorCode: io.errnoCode)
        case ChannelError.connectTimeout(let timeout):
            self.init(reason: "no answer within \(timeout.nanoseconds / 1_000_000) ms", errorCode: ETIMEDOUT)
        default:
            self.init(reason: "\(error)", errorCode: nil)
        }
    }

    private init(reason: String, errorCode: Int32?) {
        self.reason = reason
        self.errorCode = errorCode
    }

    /// strerror's text with a lower-case first letter, to sit after a colon ("connection refused").
    private static func describe(errno code: Int32) -> String {
        guard let text = strerror(code).map({ String(cString: $0) }), let first = text.first else { return "errno \(code)" }
        return first.lowercased() + text.dropFirst()
    }

    func clientError(_ address: BrokerAddress) -> KafkaClientError {
        KafkaClientError(kind: .connection, message: "cannot connect to \(address): \(reason)", systemErrorCode: errorCode)
    }
}
