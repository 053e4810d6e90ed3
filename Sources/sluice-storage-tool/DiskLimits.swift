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

    static func measure(directory: String, bufferedMiB: Int = 512, syncedMiB: Int = 128) throws -> DiskLimits {
        let path = directory + "/sluice-disk-probe"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot create \(path): errno \(errno)") }
        defer {
            close(fd)
            unlink(path)
        }
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        func writeChunk(at offset: Int) throws {
            let n = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
            guard n == chunk.count else { throw ValidationError("write failed: errno \(errno)") }
        }
        var start = monotonicNanoseconds()
        for index in 0..<bufferedMiB { try writeChunk(at: index << 20) }
        let buffered = Double(bufferedMiB) * 1.048576 / (Double(monotonicNanoseconds() - start) / 1e9)
        _ = ftruncate(fd, 0)
        _ = fdatasync(fd)

        var syncLatencies: [Double] = []
        start = monotonicNanoseconds()
        for index in 0..<syncedMiB {
            try writeChunk(at: index << 20)
            let before = monotonicNanoseconds()
            guard fdatasync(fd) == 0 else { throw ValidationError("fdatasync failed: errno \(errno)") }
            syncLatencies.append(Double(monotonicNanoseconds() - before) / 1e6)
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        syncLatencies.sort()
        return DiskLimits(
            bufferedWriteMBps: buffered,
            syncedWriteMBps: Double(syncedMiB) * 1.048576 / elapsed,
            fdatasyncP50Ms: syncLatencies[syncLatencies.count / 2],
            fdatasyncP99Ms: syncLatencies[min(syncLatencies.count - 1, syncLatencies.count * 99 / 100)],
            fdatasyncsPerSecond: Double(syncedMiB) / elapsed)
    }
}

struct DiskLimitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits", abstract: "Measure buffered and write+fdatasync-per-MiB bandwidth of a directory's disk.")

    @Option(help: "Directory on the disk to measure.") var dir: String = "."
    @Flag(help: "Print JSON on stdout.") var json = false

    func run() throws {
        let limits = try DiskLimits.measure(directory: dir)
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
