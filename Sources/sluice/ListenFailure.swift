import Glibc
import NIOCore

/// A listener `sluice serve` could not open, said so a person can act on it: which address,
/// why, and which option picks another. NIO's error names only the system call ("bind(...):
/// Address already in use"), and the broker opens two listeners (Kafka, and metrics when set).
struct ListenFailure {
    let message: String

    /// nil when `error` is not about opening a listener.
    init?(_ error: any Error, listener: String, metricsListener: String) {
        let reason: String
        switch error {
        case let io as IOError where [EADDRINUSE, EADDRNOTAVAIL, EACCES].contains(io.errnoCode):
            reason = String(cString: strerror(io.errnoCode))
        case let address as SocketAddressError:
            reason = "\(address)"
        default:
            return nil
        }
        // The Kafka listener opens first; when it can be opened now (the failed start closed
        // it again), the metrics listener was the one that failed.
        if !metricsListener.isEmpty, let (host, port) = Self.hostPort(listener), Self.canBind(host: host, port: port) {
            message = "cannot listen on \(Self.shown(metricsListener)) (metrics.listener): \(reason); "
                + "choose another address with --set metrics.listener=HOST:PORT"
        } else {
            message = "cannot listen on \(Self.shown(listener)): \(reason); is another broker running? "
                + "choose another address with --listen HOST:PORT"
        }
    }

    /// HOST:PORT without Kafka's optional listener name (PLAINTEXT://).
    private static func shown(_ listener: String) -> String {
        guard let slash = listener.lastIndex(of: "/") else { return listener }
        return String(listener[listener.index(after: slash)...])
    }

    private static func hostPort(_ listener: String) -> (String, Int)? {
        let value = shown(listener)
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]) else { return nil }
        var host = String(value[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// Whether a TCP socket can be bound there now (with SO_REUSEADDR, as the broker binds).
    private static func canBind(host: String, port: Int) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else { return false }
        defer { freeaddrinfo(found) }
        let descriptor = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var on: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        return bind(descriptor, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
    }
}
