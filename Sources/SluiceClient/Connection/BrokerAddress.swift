/// A broker's host and port (and node id once metadata names it).
public struct BrokerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses "host:port" ("[::1]:9092" for IPv6).
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    /// Parses a comma-separated bootstrap list.
    public static func list(_ text: String) -> [BrokerAddress]? {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters() }
        let parsed = parts.compactMap { BrokerAddress($0) }
        return parsed.isEmpty || parsed.count != parts.count ? nil : parsed
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension Substring {
    func trimmingCharacters() -> String {
        var value = self
        while value.first == " " { value = value.dropFirst() }
        while value.last == " " { value = value.dropLast() }
        return String(value)
    }
}
