import KafkaProtocol
import NIOCore
import SluiceSASL

/// Every user's SCRAM credentials, rebuilt from UserScramCredentialRecord and
/// RemoveUserScramCredentialRecord: in a cluster from the metadata log (so every broker checks
/// logins against the same set), on a single broker from its security file. A user may hold one
/// credential per mechanism.
public struct UserScramCredentials: Sendable, Equatable {
    public private(set) var users: [String: [ScramMechanism: ScramCredential]] = [:]

    public init() {}

    public func credential(user: String, mechanism: ScramMechanism) -> ScramCredential? {
        users[user]?[mechanism]
    }

    /// Applies one record; other records are not this image's and are ignored. A record for a
    /// mechanism Sluice does not know (a newer Kafka's) is skipped, as Kafka skips it.
    public mutating func apply(_ record: any KafkaMessage) {
        switch record {
        case let r as UserScramCredentialRecord:
            guard let mechanism = ScramMechanism(rawValue: r.mechanism) else { return }
            users[r.name, default: [:]][mechanism] = ScramCredential(
                salt: Array(buffer: r.salt), storedKey: Array(buffer: r.storedKey), serverKey: Array(buffer: r.serverKey),
                iterations: Int(r.iterations))
        case let r as RemoveUserScramCredentialRecord:
            guard let mechanism = ScramMechanism(rawValue: r.mechanism) else { return }
            users[r.name]?[mechanism] = nil
            if users[r.name]?.isEmpty == true { users[r.name] = nil }
        default:
            break
        }
    }

    /// The records that rebuild this image (for a snapshot or the security file).
    public var records: [MetadataRecordToWrite] {
        users.keys.sorted().flatMap { user in
            (users[user] ?? [:]).sorted { $0.key.rawValue < $1.key.rawValue }.map { mechanism, credential in
                MetadataRecordToWrite(Self.record(user: user, mechanism: mechanism, credential: credential), .userScramCredential)
            }
        }
    }

    public static func record(user: String, mechanism: ScramMechanism, credential: ScramCredential) -> UserScramCredentialRecord {
        UserScramCredentialRecord(
            name: user, mechanism: mechanism.rawValue, salt: ByteBuffer(bytes: credential.salt),
            storedKey: ByteBuffer(bytes: credential.storedKey), serverKey: ByteBuffer(bytes: credential.serverKey),
            iterations: Int32(credential.iterations))
    }
}
