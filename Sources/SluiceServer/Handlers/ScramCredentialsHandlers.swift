import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceSASL

/// DescribeUserScramCredentials (v0) and AlterUserScramCredentials (v0), what
/// `kafka-configs --entity-type users --alter --add-config 'SCRAM-SHA-256=[...]'` and
/// `sluice user` send. A single broker decides and saves changes itself; a cluster broker
/// forwards them to the controller, which appends UserScramCredentialRecords that every broker
/// applies, and answers once its own image has them.
enum ScramCredentialsHandlers {
    static func describe(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(DescribeUserScramCredentialsRequest.self)
        return request.respond(ScramControl.describe(body, current: request.broker.security.current))
    }

    static func alter(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AlterUserScramCredentialsRequest.self)
        guard let cluster = request.broker.cluster else {
            let results: [ScramControl.Result]
            do {
                results = try request.broker.security.alterLocally(body)
            } catch {
                request.logger.error("could not save SCRAM credentials", metadata: ["error": "\(error)"])
                results = ScramControl.refusal(of: body, .unknownServerError, "could not save the credentials")
            }
            return request.respond(ScramControl.response(results))
        }
        return request.forwardToController(body, cluster: cluster, retryWhen: { response in
            !response.results.isEmpty && response.results.allSatisfy { $0.errorCode == KafkaErrorCode.notController.rawValue }
        }, settled: { response in
            let done = Set(response.results.filter { $0.errorCode == 0 }.map(\.user))
            let upserted = body.upsertions.filter { done.contains($0.name) }
            let deleted = body.deletions.filter { done.contains($0.name) }
            return { image in
                let credentials = image.scramCredentials
                return upserted.allSatisfy { upsertion in
                    ScramMechanism(rawValue: upsertion.mechanism).flatMap { credentials.credential(user: upsertion.name, mechanism: $0) }?
                        .salt == Array(buffer: upsertion.salt)
                } && deleted.allSatisfy { deletion in
                    ScramMechanism(rawValue: deletion.mechanism).map { credentials.credential(user: deletion.name, mechanism: $0) == nil } ?? true
                }
            }
        }, failed: { reason in
            ScramControl.response(ScramControl.refusal(of: body, .requestTimedOut, reason))
        })
    }

    /// On the controller listener: the change a broker forwarded.
    static func alterOnController(_ request: RequestContext, quorum: QuorumHost) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(AlterUserScramCredentialsRequest.self)
        return quorum.submit(.alterScramCredentials(body)).hop(to: request.eventLoop).flatMap { reply in
            guard case .scramCredentialsAltered(let results) = reply else {
                return request.eventLoop.makeFailedFuture(CloseConnection(reason: "unexpected controller reply \(reply)"))
            }
            return request.respond(ScramControl.response(results))
        }.flatMapError { error in
            let failure = error as? ControllerError ?? ControllerError(.unknownServerError, "\(error)")
            return request.respond(ScramControl.response(ScramControl.refusal(of: body, failure.code, failure.message)))
        }
    }
}
