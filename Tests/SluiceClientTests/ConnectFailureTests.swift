import Glibc
import SluiceClient
import Testing

/// A refused connection says so in words, with the errno kept for callers that give advice
/// (the CLI asks whether a broker is running); NIO's own error printed as a nested dump.
@Suite("Connection failures")
struct ConnectFailureTests {
    @Test func aRefusedConnectionSaysSo() async throws {
        let port = try closedPort()
        let admin = KafkaAdmin(config: try KafkaClientConfig(bootstrap: "127.0.0.1:\(port)"))
        defer { Task { await admin.close() } }
        do {
            _ = try await admin.listTopics()
            Issue.record("listTopics succeeded with nothing listening")
        } catch let error as KafkaClientError {
            #expect(error.kind == .connection)
            #expect(error.systemErrorCode == ECONNREFUSED)
            #expect(error.message == "cannot connect to 127.0.0.1:\(port): connection refused")
        }
    }

    /// A loopback port nothing listens on: bound, then closed.
    private func closedPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
