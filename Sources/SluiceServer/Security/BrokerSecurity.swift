import KafkaProtocol
import SluiceCore
import SluiceSASL
import Synchronization

/// The credentials logins are checked against, readable from every event loop. In a cluster
/// they follow the metadata image (`follow(_:)` on each new image); on a single broker they live
/// in its `SecurityFile`, and changes are decided and saved here, one at a time.
final class BrokerSecurity: Sendable {
    private let credentials: Mutex<UserScramCredentials>
    private let file: SecurityFile?

    /// A single broker's: loaded from its data directory.
    init(file: SecurityFile) throws {
        self.file = file
        credentials = Mutex(try file.load())
    }

    /// A cluster node's: empty until the first image.
    init() {
        file = nil
        credentials = Mutex(UserScramCredentials())
    }

    var current: UserScramCredentials { credentials.withLock { $0 } }

    func scramCredential(user: String, mechanism: ScramMechanism) -> ScramCredential? {
        credentials.withLock { $0.credential(user: user, mechanism: mechanism) }
    }

    func follow(_ image: MetadataImage) {
        // A copy-on-write value: taking the image's costs a retain, less than comparing them.
        credentials.withLock { $0 = image.scramCredentials }
    }

    /// AlterUserScramCredentials on a single broker: decided, saved, then in force. Nothing
    /// changes when the save fails.
    func alterLocally(_ request: AlterUserScramCredentialsRequest) throws -> [ScramControl.Result] {
        guard let file else { preconditionFailure("a cluster node alters credentials through the controller") }
        return try credentials.withLock { current in
            let (records, results) = ScramControl.alter(request, current: current)
            guard !records.isEmpty else { return results }
            var next = current
            for record in records { next.apply(record.record) }
            try file.save(next)
            current = next
            return results
        }
    }
}
