import Glibc

/// `--metrics URL`: fetches the broker's Prometheus text (plain HTTP/1.0 GET) and prints its
/// Sluice series, so the broker's view of a run sits next to the client's.
func printBrokerMetrics(_ url: String) {
    guard let text = httpGet(url) else {
        note("could not read \(url)")
        return
    }
    print("broker metrics (\(url)):")
    for line in text.split(separator: "\n") where line.hasPrefix("sluice_") { print("  " + line) }
}

func httpGet(_ url: String) -> String? {
    guard url.hasPrefix("http://") else { return nil }
    let rest = url.dropFirst("http://".count)
    let slash = rest.firstIndex(of: "/") ?? rest.endIndex
    let authority = rest[..<slash]
    let path = slash == rest.endIndex ? "/" : String(rest[slash...])
    guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]) else { return nil }
    let host = String(authority[..<colon])
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var found: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else { return nil }
    defer { freeaddrinfo(found) }
    let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else { return nil }
    let request = "GET \(path) HTTP/1.0\r\nHost: \(host)\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += chunk[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let body = text.range(of: "\r\n\r\n") else { return nil }
    return String(text[body.upperBound...])
}
