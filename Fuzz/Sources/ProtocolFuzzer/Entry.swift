import KafkaProtocol
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libFuzzer's entry point: one input, any length, never retained.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

/// Called by libFuzzer once, before the first input. Handles `--write-seeds DIR
/// [--golden DIR]` (writes the corpus and exits), then warms up and arms the allocation check.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> CInt {
    var arguments: [String] = []
    if let argc, let argv, let vector = argv.pointee {
        for index in 0..<Int(argc.pointee) {
            if let argument = vector[index] { arguments.append(String(cString: argument)) }
        }
    }
    if let status = Driver.handleSeedCommand(arguments) { exit(status) }
    Driver.prepare()
    return 0
}

enum Driver {
    /// `--write-seeds DIR [--golden DIR]`: returns the exit status, or nil when not asked.
    static func handleSeedCommand(_ arguments: [String]) -> CInt? {
        guard let index = arguments.firstIndex(of: "--write-seeds") else { return nil }
        guard index + 1 < arguments.count else {
            printError("usage: ProtocolFuzzer --write-seeds DIR [--golden DIR]\n")
            return 2
        }
        var golden: String?
        if let g = arguments.firstIndex(of: "--golden"), g + 1 < arguments.count, isDirectory(arguments[g + 1]) {
            golden = arguments[g + 1]
        }
        do {
            let count = try Seeds.write(to: arguments[index + 1], goldenDirectory: golden)
            print("wrote \(count) seeds to \(arguments[index + 1])")
            return 0
        } catch {
            printError("cannot write seeds: \(error)\n")
            return 1
        }
    }

    /// Runs every seed once without the allocation check, so that the runtime's one-time
    /// allocations (lazy globals, metadata and conformance caches) happen before it is armed.
    static func prepare() {
        if let seeds = try? Seeds.all() {
            for seed in seeds {
                seed.bytes.withUnsafeBytes { FuzzTarget.run($0) }
            }
        }
        for selector: UInt8 in 0..<4 {
            [selector, 0, 0, 0, 0, 0, 0].withUnsafeBytes { FuzzTarget.run($0) }
        }
        AllocationBudget.install()
    }
}

#if !SLUICE_LIBFUZZER
/// Without libFuzzer (a plain `swift build`): replays files or directories through the same
/// target, for reproducing a crash under a debugger or on a machine without libFuzzer, and
/// writes the seed corpus.
@main
struct Replayer {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let status = Driver.handleSeedCommand(arguments) { exit(status) }
        guard !arguments.isEmpty else {
            printError("usage: ProtocolFuzzer FILE|DIR...   or   ProtocolFuzzer --write-seeds DIR [--golden DIR]\n")
            exit(2)
        }
        Driver.prepare()
        var count = 0
        for path in arguments {
            let files = isDirectory(path) ? listFiles(path).map { "\(path)/\($0)" } : [path]
            for file in files {
                guard let bytes = readFile(file) else {
                    printError("cannot read \(file)\n")
                    exit(1)
                }
                bytes.withUnsafeBytes { FuzzTarget.run($0) }
                count += 1
            }
        }
        print("replayed \(count) inputs without a crash")
    }
}
#endif
