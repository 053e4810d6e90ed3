import KafkaProtocol
import SluiceClient
import Testing

/// Every request a connection accepts gets an answer or an error, whatever the connection's
/// state when it was written.
@Suite("Broker connection")
struct BrokerConnectionTests {
    /// A request written after the connection closed (a broker or a network cut can close it
    /// between a caller's `isActive` check and its write) fails at once as a connection error.
    /// The closed pipeline has no handlers left to fail it, so before the write's own failure
    /// was passed on, the caller waited forever: a producer's partition stalled with a batch
    /// "in flight" that no answer would ever come for.
    @Test func aRequestWrittenAfterTheCloseFailsAtOnce() async throws {
        let broker = try BrokerFixture()
        let connection = try await BrokerConnection.connect(
            to: BrokerAddress(host: "127.0.0.1", port: broker.server.localAddress.port ?? 0), clientId: "test",
            connectTimeout: .seconds(10), requestTimeout: .seconds(60))
        connection.close()
        try await connection.closeFuture.get()
        let pending = try connection.start(ApiVersionsRequest(), version: 0, timeout: .seconds(600))
        do {
            _ = try await pending.response()
            Issue.record("a request on a closed connection was answered")
        } catch let error as KafkaClientError {
            #expect(error.kind == .connection)
        }
    }
}
