import KafkaProtocol
import NIOCore
import NIOPosix
import SluiceClient
import SluiceCore
import Synchronization

/// Connections from this node to other nodes: one per node, opened on first use and again
/// after a failure, bound to this node's own address. The quorum uses one set to the
/// controller listeners (Vote, BeginQuorumEpoch, Fetch...) and the broker's requests to the
/// active controller another, so a long-polling metadata fetch never delays a heartbeat; the
/// transaction coordinators use a third to the other brokers' client listeners
/// (WriteTxnMarkers).
final class NodeChannels: Sendable {
    private let endpoint: @Sendable (Int32) -> BrokerAddress?
    private let localAddress: SocketAddress?
    private let clientId: String
    private let group: any EventLoopGroup
    private let connections = Mutex<[Int32: Task<BrokerConnection, any Error>]>([:])

    convenience init(voters: [QuorumVoter], localHost: String?, clientId: String, group: any EventLoopGroup) {
        let endpoints = Dictionary(voters.map { ($0.id, BrokerAddress(host: $0.host, port: $0.port)) }, uniquingKeysWith: { first, _ in first })
        self.init(endpoint: { endpoints[$0] }, localHost: localHost, clientId: clientId, group: group)
    }

    /// `endpoint`: where a node is now (a broker's address moves with its registration).
    init(endpoint: @escaping @Sendable (Int32) -> BrokerAddress?, localHost: String?, clientId: String, group: any EventLoopGroup) {
        self.endpoint = endpoint
        if let localHost, !localHost.isEmpty, localHost != "0.0.0.0", localHost != "::" {
            localAddress = try? SocketAddress(ipAddress: localHost, port: 0)
        } else {
            localAddress = nil
        }
        self.clientId = clientId
        self.group = group
    }

    func send<R: KafkaRequest>(_ request: R, version: Int16, to node: Int32, timeout: Duration) async throws -> R.Response {
        let (connection, task) = try await connection(to: node)
        do {
            return try await connection.send(request, version: version, timeout: timeout)
        } catch {
            // A timeout closes the connection (later answers could not be matched); open a new one next time.
            connection.close()
            forget(node, task)
            throw error
        }
    }

    private typealias Opening = Task<BrokerConnection, any Error>

    private func connection(to node: Int32) async throws -> (BrokerConnection, Opening) {
        guard let address = endpoint(node) else {
            throw KafkaClientError(kind: .invalidArgument, message: "node \(node) has no known address")
        }
        let (task, created) = connections.withLock { connections -> (Opening, Bool) in
            if let existing = connections[node] { return (existing, false) }
            let (clientId, group, localAddress) = (self.clientId, self.group, self.localAddress)
            let task = Task {
                try await BrokerConnection.connect(to: address, clientId: clientId, connectTimeout: .seconds(2), requestTimeout: .seconds(5),
                                                   group: group, localAddress: localAddress)
            }
            connections[node] = task
            return (task, true)
        }
        let connection: BrokerConnection
        do {
            connection = try await task.value
        } catch {
            forget(node, task)
            throw error
        }
        if connection.isActive { return (connection, task) }
        forget(node, task)
        if created { throw KafkaClientError(kind: .connection, message: "connection to node \(node) closed at once") }
        return try await self.connection(to: node)
    }

    /// Drops `task` as the way to reach `node`, unless another connection has replaced it already.
    private func forget(_ node: Int32, _ task: Opening) {
        connections.withLock { connections in
            if connections[node] == task { connections[node] = nil }
        }
    }

    func closeAll() {
        let tasks = connections.withLock { connections in
            defer { connections.removeAll() }
            return Array(connections.values)
        }
        for task in tasks {
            Task { try? await task.value.close() }
        }
    }
}
