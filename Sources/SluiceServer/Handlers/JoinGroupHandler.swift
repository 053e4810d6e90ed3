import KafkaProtocol
import NIOCore
import SluiceCore

/// JoinGroup v0–9. MEMBER_ID_REQUIRED only from v4 (KIP-394): older clients (kafka-go) break
/// on it. The answer waits for the rebalance to complete.
enum JoinGroupHandler {
    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(JoinGroupRequest.self)
        let version = request.version
        let input = JoinGroupInput(
            groupId: body.groupId, memberId: body.memberId, groupInstanceId: body.groupInstanceId, clientId: request.clientId,
            clientHost: request.clientHost, sessionTimeoutMs: body.sessionTimeoutMs,
            // v0 has no rebalance timeout: the session timeout serves as both, as in Kafka.
            rebalanceTimeoutMs: version == 0 ? body.sessionTimeoutMs : body.rebalanceTimeoutMs,
            protocolType: body.protocolType,
            protocols: body.protocols.map { GroupProtocol(name: $0.name, metadata: $0.metadata) },
            requireKnownMemberId: version >= 4)
        return request.withCoordinator { (coordinator, respond: @escaping @Sendable (JoinGroupResponse) -> Void) in
            coordinator.joinGroup(input) { result in
                respond(JoinGroupResponse(
                    errorCode: result.error.rawValue, generationId: result.generationId,
                    protocolType: result.protocolType, protocolName: version >= 7 ? result.protocolName : (result.protocolName ?? ""),
                    leader: result.leaderId, skipAssignment: false, memberId: result.memberId,
                    members: result.members.map {
                        .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata)
                    }))
            }
        }
    }
}
