import CSluiceUring
import Glibc

/// Whether a directory's file system completes a buffered write without blocking
/// (RWF_NOWAIT), which is what lets io_uring finish a buffered write inline instead of handing
/// it to one of its worker threads. XFS and btrfs do on recent kernels; ext4 did not up to 6.18
/// (pwritev2 answers EOPNOTSUPP), and there a write through the ring costs a thread hop. The
/// writer no longer chooses by it (the storage thread's own writes measured faster on XFS too);
/// the start-up log reports it, which is what an operator trying `ring` needs to know.
public enum BufferedWriteProbe {
    public enum Answer: Equatable, Sendable {
        case nonBlocking
        case blocking
        /// The probe could not tell (no directory, cannot create a file): assume blocking.
        case unknown(reason: String)
    }

    public static func probe(directory: String) -> Answer {
        let path = directory + "/.sluice-nowait-probe-\(getpid())"
        let fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .unknown(reason: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer {
            close(fd)
            unlink(path)
        }
        let rc = sluice_buffered_nowait_write_supported(fd)
        switch rc {
        case 1: return .nonBlocking
        case 0: return .blocking
        default: return .unknown(reason: "pwritev2(RWF_NOWAIT) failed: \(String(cString: strerror(-rc)))")
        }
    }
}
