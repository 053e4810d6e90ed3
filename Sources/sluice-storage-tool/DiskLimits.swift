import ArgumentParser
import Glibc

/// What this machine's disk can do, measured with plain syscalls so that the log's figures can
/// be read as fractions of it: buffered sequential writes, and 1 MiB writes each followed by an
/// fdatasync (the ceiling for a durable append path).
struct DiskLimits: Codable {
    var bufferedWriteMBps: Double
    var syncedWriteMBps: Double
    var fdatasyncP50Ms: Double
    var fdatasyncP99Ms: Double
    var fdatasyncsPerSecond: Double

    /// Each phase writes 1 MiB chunks sequentially for `seconds` (sustained rates, past what the
    /// page cache absorbs at first) into a new file that is deleted afterwards.
    static func measure(directory: String, seconds: Double = 3) throws -> DiskLimits {
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        func phase(sync: Bool) throws -> (megabytesPerSecond: Double, latencies: [Double]) {
            let path = directory + "/sluice-disk-probe-\(sync ? "synced" : "buffered")"
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ValidationError("cannot create \(path): errno \(errno)") }
            defer {
                close(fd)
                unlink(path)
            }
            var latencies: [Double] = []
            var written = 0
            let start = monotonicNanoseconds()
            let deadline = start + UInt64(seconds * 1e9)
            while monotonicNanoseconds() < deadline {
                let n = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(written)) }
                guard n == chunk.count else { throw ValidationError("write failed: errno \(errno)") }
                written += n
                if sync {
                    let before = monotonicNanoseconds()
                    guard fdatasync(fd) == 0 else { throw ValidationError("fdatasync failed: errno \(errno)") }
                    latencies.append(Double(monotonicNanoseconds() - before) / 1e6)
                }
            }
            let elapsed = Double(monotonicNanoseconds() - start) / 1e9
            return (Double(written) / 1e6 / elapsed, latencies)
        }
        let buffered = try phase(sync: false)
        let synced = try phase(sync: true)
        let latencies = synced.latencies.sorted()
        return DiskLimits(
            bufferedWriteMBps: buffered.megabytesPerSecond,
            syncedWriteMBps: synced.megabytesPerSecond,
            fdatasyncP50Ms: latencies[latencies.count / 2],
            fdatasyncP99Ms: latencies[min(latencies.count - 1, latencies.count * 99 / 100)],
            fdatasyncsPerSecond: Double(latencies.count) / seconds)
    }
}

struct DiskLimitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits", abstract: "Measure buffered and write+fdatasync-per-MiB bandwidth of a directory's disk.")

    @Option(help: "Directory on the disk to measure.") var dir: String = "."
    @Option(help: "Seconds per phase.") var seconds: Double = 3
    @Flag(help: "Print JSON on stdout.") var json = false

    func run() throws {
        let limits = try DiskLimits.measure(directory: dir, seconds: seconds)
        if json {
            print("{\"bufferedWriteMBps\": \(format(limits.bufferedWriteMBps)), \"syncedWriteMBps\": \(format(limits.syncedWriteMBps)), "
                + "\"fdatasyncP50Ms\": \(format(limits.fdatasyncP50Ms, decimals: 3)), \"fdatasyncP99Ms\": \(format(limits.fdatasyncP99Ms, decimals: 3)), "
                + "\"fdatasyncsPerSecond\": \(format(limits.fdatasyncsPerSecond))}")
        } else {
            print("buffered sequential write: \(format(limits.bufferedWriteMBps)) MB/s")
            print("write + fdatasync per MiB: \(format(limits.syncedWriteMBps)) MB/s (fdatasync p50 \(format(limits.fdatasyncP50Ms, decimals: 2)) ms, p99 \(format(limits.fdatasyncP99Ms, decimals: 2)) ms)")
        }
    }
}
