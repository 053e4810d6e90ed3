import Glibc

/// A voter's election state on disk: Kafka's `quorum-state` file (FileQuorumStateStore), JSON of
/// QuorumStateData version 0, written to a temporary file, synced, renamed over the old one and
/// the directory synced, so that a vote is never answered before it would survive a crash.
public struct QuorumStateFile: Sendable {
    public struct Contents: Sendable, Equatable {
        public var leaderEpoch: Int32
        public var leaderId: Int32
        public var votedId: Int32
        public var voters: [Int32]

        public init(leaderEpoch: Int32, leaderId: Int32 = -1, votedId: Int32 = -1, voters: [Int32]) {
            self.leaderEpoch = leaderEpoch
            self.leaderId = leaderId
            self.votedId = votedId
            self.voters = voters
        }
    }

    public static let fileName = "quorum-state"
    public let path: String

    public init(directory: String) {
        path = directory + "/" + Self.fileName
    }

    /// nil when there is no file yet; throws when it exists but cannot be understood.
    public func read() throws -> Contents? {
        guard access(path, F_OK) == 0 else { return nil }
        guard let bytes = readWholeFile(path: path) else { throw StorageError.io(errno: errno, operation: "read", path: path) }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let epoch = Self.integer("leaderEpoch", in: text), let leader = Self.integer("leaderId", in: text),
              let voted = Self.integer("votedId", in: text),
              let epoch32 = Int32(exactly: epoch), let leader32 = Int32(exactly: leader), let voted32 = Int32(exactly: voted) else {
            throw StorageError.corrupt(path: path, reason: "not a quorum-state file: \(text.prefix(200))")
        }
        return Contents(leaderEpoch: epoch32, leaderId: leader32, votedId: voted32, voters: Self.voters(in: text))
    }

    public func write(_ contents: Contents) throws {
        let voters = contents.voters.sorted().map { "{\"voterId\":\($0)}" }.joined(separator: ",")
        let json = "{\"clusterId\":\"\",\"leaderId\":\(contents.leaderId),\"leaderEpoch\":\(contents.leaderEpoch),"
            + "\"votedId\":\(contents.votedId),\"appliedOffset\":0,\"currentVoters\":[\(voters)],\"data_version\":0}"
        try writeFileAtomically(path: path, bytes: Array(json.utf8), sync: true)
        let directory = String(path.dropLast(Self.fileName.count + 1))
        guard syncDirectory(directory) else { throw StorageError.io(errno: errno, operation: "fsync", path: directory) }
    }

    /// The integer after `"key":` (the file is flat apart from the voter list).
    static func integer(_ key: String, in text: String) -> Int64? {
        guard let range = text.firstRange(of: "\"\(key)\":") else { return nil }
        let digits = text[range.upperBound...].drop { $0 == " " }.prefix { $0 == "-" || $0.isNumber }
        return Int64(digits)
    }

    static func voters(in text: String) -> [Int32] {
        var voters: [Int32] = []
        var rest = Substring(text)
        while let range = rest.firstRange(of: "\"voterId\":") {
            let digits = rest[range.upperBound...].drop { $0 == " " }.prefix { $0 == "-" || $0.isNumber }
            if let id = Int32(digits) { voters.append(id) }
            rest = rest[range.upperBound...]
        }
        return voters
    }
}
