import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// A single broker's security state (SCRAM credentials) in its data directory, as metadata
/// records: `__sluice_security/records`, each record framed as in the metadata log and
/// length-prefixed, written whole, atomically and fdatasync'd before a change is answered. A
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
        var buffer = ByteBuffer(bytes: bytes)
        do {
            while buffer.readableBytes > 0 {
                guard let length = buffer.readInteger(as: UInt32.self), var frame = buffer.readSlice(length: Int(length)) else {
                    throw KafkaProtocolError.truncated(needed: 4, available: buffer.readableBytes)
                }
                credentials.apply(try MetadataRecordFrame.read(from: &frame).record)
            }
        } catch {
            throw ConfigError("\(path) is unreadable (\(error)); restore it from a backup or move it away to start without credentials")
        }
        return credentials
    }

    public func save(_ credentials: UserScramCredentials) throws {
        var buffer = ByteBuffer()
        for record in credentials.records {
            let frame = try MetadataRecordFrame.encode(record.record, type: record.type, version: record.version)
            buffer.writeInteger(UInt32(frame.count))
            buffer.writeBytes(frame)
        }
        try createDirectory(folder)
        try writeFileAtomically(path: path, bytes: Array(buffer.readableBytesView), sync: true)
    }
}
