import ArgumentParser
import Dispatch
import Glibc
import Logging
import SluiceStorage

@main
struct StorageTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-storage-tool",
        abstract: "Storage engine helpers: benchmark, machine limits, and the crash-test children.",
        subcommands: [StorageBench.self, DiskLimitsCommand.self, CrashChild.self, CleanCrashChild.self])
}

typealias QueueOwner = SerialQueueOwner

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func wallClockMs() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// Writes a line to stderr right away (progress never goes to stdout).
func progress(_ line: String) {
    writeLine(line, to: 2)
}

/// Writes a whole line to a descriptor in one call (stdout/stderr without the C stdio globals,
/// which Swift 6 treats as shared mutable state).
func writeLine(_ line: String, to descriptor: Int32) {
    let text = Array((line + "\n").utf8)
    var done = 0
    while done < text.count {
        let n = text.withUnsafeBytes { write(descriptor, $0.baseAddress! + done, text.count - done) }
        if n <= 0 { return }
        done += n
    }
}

func format(_ value: Double, decimals: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let fraction = text[text.index(after: dot)...]
        if fraction.count < decimals { text += String(repeating: "0", count: decimals - fraction.count) }
    } else if decimals > 0 {
        text += "." + String(repeating: "0", count: decimals)
    }
    return text
}

extension LogWriterBackend: ExpressibleByArgument {}
extension URingWritePath: ExpressibleByArgument {}
