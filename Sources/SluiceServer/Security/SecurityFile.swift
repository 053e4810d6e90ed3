import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// A single broker's security state (SCRAM credentials) in its data directory, as metadata
/// records: `__sluice_security/records`, in a metadata snapshot's framing, written whole, atomically and fdatasync'd before a change is answered. A
/// cluster keeps the same records in its metadata log instead. `sluice format --add-scram`
/// writes the first credential here, before the broker ever runs.
public struct SecurityFile: Sendable {
    let folder: String
    var path: String { folder + "/records" }

    public init(dataDirectory: String) {
        folder = dataDirectory + "/__sluice_security"
    }

    public func load() throws -> UserScramCredentials {
        var credentials = UserScramCredentials()
        guard let bytes = readWholeFile(path: path) else { return credentials }
        do {
            try MetadataSnapshot.forEachRecord(in: bytes) { record, _ in credentials.apply(record) }
        } catch {
            throw ConfigError("\(path) is unreadable (\(error)); restore it from a backup or move it away to start without credentials")
        }
        return credentials
    }

    public func save(_ credentials: UserScramCredentials) throws {
        let bytes = try MetadataSnapshot.encode(records: credentials.records)
        try createDirectory(folder)
        try writeFileAtomically(path: path, bytes: bytes, sync: true)
    }
}
