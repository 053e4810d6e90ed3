import Glibc

/// The broker's data directory: an exclusive lock so a second broker on the same directory
/// fails at once, and the clean-shutdown marker that lets the next start skip recovery.
public final class DataDirectory {
    public let path: String
    /// Whether the previous process shut down cleanly (its marker was present).
    public let wasCleanShutdown: Bool
    private let lockDescriptor: Int32

    static let lockFile = ".lock"
    static let cleanShutdownFile = ".sluice-clean-shutdown"

    /// Creates the directory when missing, takes its lock, and consumes the clean-shutdown
    /// marker (removing it, so a crash from here on is seen as unclean).
    public init(path: String) throws {
        self.path = path
        try createDirectory(path)
        let lockPath = path + "/" + Self.lockFile
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(errno: errno, operation: "open", path: lockPath) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StorageError.directoryLocked(path: path)
        }
        lockDescriptor = fd
        let marker = path + "/" + Self.cleanShutdownFile
        wasCleanShutdown = access(marker, F_OK) == 0
        if wasCleanShutdown {
            unlink(marker)
            syncDirectory(path)
        }
    }

    deinit {
        close(lockDescriptor)
    }

    /// Call after every log has closed cleanly.
    public func markCleanShutdown() throws {
        try writeFileAtomically(path: path + "/" + Self.cleanShutdownFile, bytes: Array("clean\n".utf8), sync: true)
        syncDirectory(path)
    }
}

/// fsync a directory so that renames and unlinks in it are durable. False when it failed;
/// callers whose correctness depends on it (the quorum's files) turn that into an error.
@discardableResult
func syncDirectory(_ path: String) -> Bool {
    let fd = open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return fsync(fd) == 0
}
