import Glibc
import Logging
import Synchronization

/// Whether a broker's log directory is full: an append failed for want of space
/// (`StorageHealth.isDiskFull`) and the file system has not had room since.
///
/// In a cluster the broker's heartbeats ask the controller to fence it while this says full, so
/// other replicas lead its partitions and it leaves every ISR (Kafka halts a broker whose last
/// log directory failed; this one steps aside instead), and to unfence it once there is room
/// again. A single broker keeps its partitions and answers KAFKA_STORAGE_ERROR meanwhile.
public final class DiskSpaceGuard: Sendable {
    let directory: String
    private let health: StorageHealth
    private let logger: Logger
    /// What was last logged, so each change is logged once.
    private let reportedFull = Atomic<Bool>(false)

    public init(directory: String, health: StorageHealth, logger: Logger) {
        self.directory = directory
        self.health = health
        self.logger = logger
    }

    /// Whether the log directory is full now (asked before each heartbeat, and by /metrics):
    /// an append ran out of space and the file system has not had room since.
    public func isFull() -> Bool {
        if health.isDiskFull, let space = Self.space(of: directory), space.free >= Self.room(total: space.total) {
            health.diskHasRoom()
        }
        let full = health.isDiskFull
        if reportedFull.exchange(full, ordering: .relaxed) != full {
            if full {
                logger.error("log directory full: appends fail until there is room (in a cluster this broker asks to be fenced meanwhile)",
                             metadata: ["directory": "\(directory)"])
            } else {
                logger.notice("log directory has room again", metadata: ["directory": "\(directory)"])
            }
        }
        return full
    }

    /// Free space that counts as room again: enough for a few fetches and a segment roll
    /// without flapping back at once, capped for small file systems.
    public static func room(total: Int64) -> Int64 { min(64 << 20, total / 20) }

    static func space(of path: String) -> (free: Int64, total: Int64)? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let unit = Int64(info.f_frsize)
        return (Int64(info.f_bavail) * unit, Int64(info.f_blocks) * unit)
    }
}
