import KafkaProtocol
import Logging
import SluiceCore
import Synchronization

/// The broker's side of its membership (Kafka's BrokerLifecycleManager): it registers with the
/// active controller (a new incarnation id each start), then heartbeats every
/// `broker.heartbeat.interval.ms` with the metadata offset it has applied; the controller
/// unfences it once it has caught up, and fences it when heartbeats stop for
/// `broker.session.timeout.ms`. A heartbeat refused for a stale or unknown epoch starts a new
/// registration. On a clean stop it asks to shut down, so its partitions move at once instead
/// of after the session times out.
final class BrokerLifecycle: Sendable {
    struct State: Sendable {
        var brokerEpoch: Int64 = -1
        var fenced = true
        var stopping = false
    }

    let registration: ClusterControl.Registration
    private let client: ControllerClient
    private let quorum: QuorumHost
    private let heartbeatIntervalMs: Int64
    private let logger: Logger
    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Asked before each heartbeat whether this broker should be fenced (its disk is full).
    private let wantsFence: @Sendable () -> Bool

    init(registration: ClusterControl.Registration, client: ControllerClient, quorum: QuorumHost, heartbeatIntervalMs: Int64,
         wantsFence: @escaping @Sendable () -> Bool = { false }, logger: Logger) {
        self.wantsFence = wantsFence
        self.registration = registration
        self.client = client
        self.quorum = quorum
        self.heartbeatIntervalMs = max(10, heartbeatIntervalMs)
        self.logger = logger
    }

    var brokerEpoch: Int64 { state.withLock { $0.brokerEpoch } }

    func start() {
        let running = Task { await self.run() }
        task.withLock { $0 = running }
    }

    /// Asks the controller to let this broker go (wantShutDown), briefly, then stops heartbeating.
    func stop() async {
        let epoch = state.withLock { state -> Int64 in
            state.stopping = true
            return state.brokerEpoch
        }
        task.withLock { $0 }?.cancel()
        guard epoch >= 0 else { return }
        let request = BrokerHeartbeatRequest(brokerId: registration.brokerId, brokerEpoch: epoch,
                                             currentMetadataOffset: quorum.status.appliedOffset, wantFence: false, wantShutDown: true)
        _ = try? await client.send(request, version: 1, within: .seconds(2)) { $0.errorCode == KafkaErrorCode.notController.rawValue }
    }

    private func run() async {
        var loggedRefusal = false
        while !Task.isCancelled, !state.withLock({ $0.stopping }) {
            if brokerEpoch < 0 {
                do {
                    let response = try await client.send(request(), version: 4) { $0.errorCode == KafkaErrorCode.notController.rawValue }
                    if response.errorCode == 0 {
                        state.withLock { $0.brokerEpoch = response.brokerEpoch }
                        logger.info("registered with the controller", metadata: ["brokerEpoch": "\(response.brokerEpoch)"])
                        loggedRefusal = false
                        continue
                    }
                    let code = KafkaErrorCode(rawValue: response.errorCode)
                    if !loggedRefusal {
                        // DUPLICATE_BROKER_REGISTRATION: another live process holds this node.id.
                        logger.error("the controller refused this broker's registration; retrying", metadata: ["error": "\(code.name)"])
                        loggedRefusal = true
                    }
                } catch {
                    logger.warning("could not register with the controller; retrying", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(heartbeatIntervalMs))
                continue
            }
            await heartbeat()
            try? await Task.sleep(for: .milliseconds(heartbeatIntervalMs))
        }
    }

    private func request() -> BrokerRegistrationRequest {
        BrokerRegistrationRequest(
            brokerId: registration.brokerId, clusterId: registration.clusterId, incarnationId: registration.incarnationId,
            listeners: registration.listeners.map { .init(name: $0.name, host: $0.host, port: UInt16(clamping: $0.port), securityProtocol: 0) },
            rack: registration.rack)
    }

    private func heartbeat() async {
        let epoch = brokerEpoch
        let request = BrokerHeartbeatRequest(brokerId: registration.brokerId, brokerEpoch: epoch,
                                             currentMetadataOffset: quorum.status.appliedOffset, wantFence: wantsFence())
        do {
            // Within one session timeout's worth of tries: past that the controller has fenced us anyway.
            let response = try await client.send(request, version: 1, within: .milliseconds(heartbeatIntervalMs * 3)) {
                $0.errorCode == KafkaErrorCode.notController.rawValue
            }
            let code = KafkaErrorCode(rawValue: response.errorCode)
            switch code {
            case .none:
                let wasFenced = state.withLock { state -> Bool in
                    defer { state.fenced = response.isFenced }
                    return state.fenced
                }
                if wasFenced != response.isFenced {
                    logger.info(response.isFenced ? "fenced by the controller" : "unfenced: serving as a live broker",
                                metadata: ["brokerEpoch": "\(epoch)"])
                }
            case .staleBrokerEpoch, .brokerIdNotRegistered:
                logger.warning("the controller no longer knows this registration; registering again", metadata: ["error": "\(code.name)"])
                state.withLock {
                    $0.brokerEpoch = -1
                    $0.fenced = true
                }
            default:
                logger.warning("heartbeat refused", metadata: ["error": "\(code.name)"])
            }
        } catch {
            logger.debug("heartbeat failed", metadata: ["error": "\(error)"])
        }
    }
}
