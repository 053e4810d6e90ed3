import KafkaProtocol
import NIOCore
import SluiceSASL

/// One SCRAM credential of a user, as DescribeUserScramCredentials reports it (never a key).
public struct ScramCredentialInfo: Hashable, Sendable {
    public var mechanism: SaslConfig.Mechanism
    public var iterations: Int

    public init(mechanism: SaslConfig.Mechanism, iterations: Int) {
        self.mechanism = mechanism
        self.iterations = iterations
    }
}

/// SCRAM users, what `kafka-configs --entity-type users` manages and `sluice user` wraps: the
/// password is salted and hashed here, so only the salted password crosses the wire.
extension KafkaAdmin {
    /// Every user with a credential, or the named ones (RESOURCE_NOT_FOUND for one without).
    public func describeUserScramCredentials(users: [String]? = nil) async throws -> [String: [ScramCredentialInfo]] {
        let request = DescribeUserScramCredentialsRequest(users: users?.map { .init(name: $0) })
        let (response, _) = try await cluster.anyConnection().send(request, versions: 0...0, timeout: requestTimeout)
        guard response.errorCode == 0 else {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode), response.errorMessage)
        }
        var out: [String: [ScramCredentialInfo]] = [:]
        for result in response.results {
            guard result.errorCode == 0 else {
                throw KafkaClientError.broker(KafkaErrorCode(rawValue: result.errorCode), result.errorMessage ?? "user \(result.user)")
            }
            out[result.user] = result.credentialInfos.compactMap { info in
                ScramMechanism(rawValue: info.mechanism).map { ScramCredentialInfo(mechanism: .init(scram: $0), iterations: Int(info.iterations)) }
            }
        }
        return out
    }

    /// Sets `user`'s password for a SCRAM mechanism (PLAIN users live in the broker's JAAS
    /// configuration, not here).
    public func setScramCredential(user: String, mechanism: SaslConfig.Mechanism, password: String,
                                   iterations: Int = ScramMechanism.minIterations) async throws {
        guard let scram = mechanism.scram else {
            throw KafkaClientError(kind: .invalidArgument, message: "\(mechanism.rawValue) is not a SCRAM mechanism")
        }
        let salt = ScramNonce.randomBytes(count: 32)
        let salted = scram.saltedPassword(password, salt: salt, iterations: iterations)
        try await alterScramCredentials(AlterUserScramCredentialsRequest(upsertions: [
            .init(name: user, mechanism: scram.rawValue, iterations: Int32(clamping: iterations), salt: ByteBuffer(bytes: salt),
                  saltedPassword: ByteBuffer(bytes: salted)),
        ]))
    }

    public func deleteScramCredential(user: String, mechanism: SaslConfig.Mechanism) async throws {
        guard let scram = mechanism.scram else {
            throw KafkaClientError(kind: .invalidArgument, message: "\(mechanism.rawValue) is not a SCRAM mechanism")
        }
        try await alterScramCredentials(AlterUserScramCredentialsRequest(deletions: [.init(name: user, mechanism: scram.rawValue)]))
    }

    private func alterScramCredentials(_ request: AlterUserScramCredentialsRequest) async throws {
        let (response, _) = try await cluster.anyConnection().send(request, versions: 0...0, timeout: requestTimeout)
        for result in response.results where result.errorCode != 0 {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: result.errorCode), result.errorMessage ?? "user \(result.user)")
        }
    }
}
