import Glibc
import Logging
import SluiceStorage
import Synchronization

/// Keeps a broker whose log directory ran out of space from leading partitions it cannot write.
///
/// Kafka halts a broker whose last log directory failed, so the controller moves its partitions
/// to other replicas. This broker steps aside instead of exiting: while an append has failed for
/// want of space (`StorageHealth.isDiskFull`) its heartbeats ask the controller to fence it
/// (`wantFence`), which elects other leaders from the ISR and takes it out of every ISR; once
/// the file system has room again it asks to be unfenced and catches up as a follower. A single
/// broker without a cluster keeps its partitions and answers KAFKA_STORAGE_ERROR meanwhile.
public final class DiskSpaceGuard: Sendable {
    let directory: String
    private let health: StorageHealth
    private let logger: Logger
    private let fencing = Atomic<Bool>(false)

    init(directory: String, health: StorageHealth, logger: Logger) {
        self.directory = directory
        self.health = health
        self.logger = logger
    }

    /// Whether the log directory is full now (asked before each heartbeat, and by /metrics):
    /// an append ran out of space and the file system has not had room since.
    func isFull() -> Bool {
        if health.isDiskFull, let space = Self.space(of: directory), space.free >= Self.room(total: space.total) {
            health.diskHasRoom()
        }
        let full = health.isDiskFull
        if fencing.exchange(full, ordering: .relaxed) != full {
            if full {
                logger.error("log directory full: asking the controller to fence this broker so other replicas lead its partitions",
                             metadata: ["directory": "\(directory)"])
            } else {
                logger.notice("log directory has room again: asking to be unfenced", metadata: ["directory": "\(directory)"])
            }
        }
        return full
    }

    /// Free space that counts as room again: enough for a few fetches and a segment roll
    /// without flapping back at once, capped for small file systems.
    static func room(total: Int64) -> Int64 { min(64 << 20, total / 20) }

    static func space(of path: String) -> (free: Int64, total: Int64)? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let unit = Int64(info.f_frsize)
        return (Int64(info.f_bavail) * unit, Int64(info.f_blocks) * unit)
    }
}
