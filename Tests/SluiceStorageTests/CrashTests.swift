import Foundation
import KafkaProtocol
import NIOCore
import Testing
@testable import SluiceStorage

/// A real child process appends under the durable default and reports each acknowledged batch
/// on a pipe; it is killed with SIGKILL at random moments. After each kill the log is recovered
/// here and every acknowledged batch must be present and intact.
@Suite("Crash recovery with real processes")
struct CrashTests {
    static var toolPath: String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().appendingPathComponent("sluice-storage-tool").path
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: toolPath), "sluice-storage-tool is not built next to the tests"))
    func killNineNeverLosesAnAcknowledgedBatch() throws {
        let directory = TemporaryDirectory()
        var acknowledged: [(first: Int64, last: Int64)] = []
        var rng = SystemRandomNumberGenerator()
        let rounds = 24
        for round in 0..<rounds {
            let backend = round % 2 == 0 ? "io_uring" : "pwrite"
            let child = Process()
            child.executableURL = URL(fileURLWithPath: Self.toolPath)
            child.arguments = ["crash-child", "--dir", directory.path, "--backend", backend]
            let pipe = Pipe()
            child.standardOutput = pipe
            child.standardError = FileHandle.nullDevice
            try child.run()
            usleep(UInt32.random(in: 80_000...400_000, using: &rng))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            // Everything the child printed before it died is an acknowledgement it received.
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            var roundAcks = 0
            for line in output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 3, parts[0] == "ack", let first = Int64(parts[1]), let last = Int64(parts[2]) {
                    acknowledged.append((first, last))
                    roundAcks += 1
                } else if parts.first == "error" {
                    Issue.record("child reported \(line)")
                }
            }

            let harness = try LogHarness(directory: directory.path, backend: round % 2 == 0 ? .pwrite : .ioUring)
            let end = harness.onOwner { $0.logEndOffset }
            let highestAck = acknowledged.map(\.last).max() ?? -1
            #expect(end > highestAck, "round \(round): log ends at \(end), acknowledged up to \(highestAck)")
            // This round's acknowledged batches and a sample of earlier ones each round; every
            // acknowledged batch in the last round. Each is read back and checked record by record.
            let isLast = round == rounds - 1
            let earlier = acknowledged.count - roundAcks
            let sample = isLast ? Array(acknowledged.indices)
                : Array(earlier..<acknowledged.count) + (0..<min(200, earlier)).map { _ in Int.random(in: 0..<earlier, using: &rng) }
            for ack in sample.map({ acknowledged[$0] }) {
                let batch = try #require(try harness.read(from: ack.first, maxBytes: 1).first, "offset \(ack.first) missing")
                try batch.verifyCRC()
                #expect(batch.header.baseOffset == ack.first && batch.header.lastOffset == ack.last)
                let values = try batch.records(decompressionLimit: 1 << 20).map { String(buffer: $0.value!) }
                #expect(values == (ack.first...ack.last).map { "v\($0)" }, "batch at \(ack.first)")
            }
            print("crash round \(round) (\(backend)): \(roundAcks) acknowledged this round, \(acknowledged.count) in all, log end \(end)")
        }
        #expect(acknowledged.count > rounds * 5)
    }

    /// Compaction's swap under a real kill -9 at each of its steps: a child process appends
    /// keyed records (tombstones among them), cleans the whole log and dies with SIGKILL after
    /// writing the cleaned files, after committing the swap, after removing the replaced
    /// segments, or after the final rename (or finishes). Each restart here finds either the
    /// old segments or the new ones: every key reads its latest value or tombstone, every record
    /// read is the one acknowledged at its offset, offsets only increase, and no cleaning file
    /// is left behind.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: toolPath), "sluice-storage-tool is not built next to the tests"))
    func killNineAtEachStepOfACleaningLosesNoKey() throws {
        let directory = TemporaryDirectory()
        var acknowledged: [Int64: (key: String, value: String?)] = [:]
        var latest: [String: (offset: Int64, value: String?)] = [:]
        let steps = ["written", "committed", "replacedRemoved", "renamed", "none"]
        for round in 0..<(2 * steps.count) {
            let step = steps[round % steps.count]
            let child = Process()
            child.executableURL = URL(fileURLWithPath: Self.toolPath)
            child.arguments = ["clean-crash-child", "--dir", directory.path, "--crash-at", step, "--round", "\(round)"]
            let pipe = Pipe()
            child.standardOutput = pipe
            child.standardError = FileHandle.nullDevice
            try child.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            child.waitUntilExit()
            if step == "none" {
                #expect(child.terminationReason == .exit && child.terminationStatus == 0, "round \(round): \(output.suffix(200))")
            } else {
                #expect(child.terminationReason == .uncaughtSignal && child.terminationStatus == SIGKILL,
                        "round \(round): the child was to die after \(step)")
                #expect(output.contains("dying after \(step)"), "round \(round): \(output.suffix(200))")
            }
            for line in output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                #expect(parts.first != "error", "round \(round): \(line)")
                guard parts.count == 4, parts[0] == "ack", let offset = Int64(parts[1]) else { continue }
                let value = parts[3] == "-" ? nil : String(parts[3])
                acknowledged[offset] = (String(parts[2]), value)
                latest[String(parts[2])] = (offset, value)
            }

            let harness = try LogHarness(directory: directory.path, backend: .pwrite)
            let leftovers = (listDirectory(directory.path) ?? []).filter { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") }
            #expect(leftovers.isEmpty, "round \(round) (\(step)): \(leftovers)")
            var lastRead: [String: (offset: Int64, value: String?)] = [:]
            var previous: Int64 = -1
            var offset: Int64 = 0
            var count = 0
            let end = harness.onOwner { $0.logEndOffset }
            while offset < end {
                let batches = try harness.read(from: offset, maxBytes: 1 << 20)
                guard let last = batches.last else { break }
                for batch in batches {
                    try batch.verifyCRC()
                    for record in try batch.records(decompressionLimit: 1 << 24) {
                        let at = batch.header.baseOffset + Int64(record.offsetDelta)
                        guard at >= offset else { continue }
                        #expect(at > previous, "round \(round) (\(step)): offset \(at) after \(previous)")
                        previous = at
                        count += 1
                        let key = record.key.map { String(buffer: $0) } ?? "?"
                        let value = record.value.map { String(buffer: $0) }
                        let acked = acknowledged[at]
                        #expect(acked?.key == key && acked?.value == value, "round \(round) (\(step)): offset \(at) reads \(key)=\(value ?? "-")")
                        lastRead[key] = (at, value)
                    }
                }
                offset = last.header.lastOffset + 1
            }
            for (key, expected) in latest {
                #expect(lastRead[key]?.offset == expected.offset && lastRead[key]?.value == expected.value,
                        "round \(round) (\(step)): \(key) reads \(String(describing: lastRead[key])), latest \(expected)")
            }
            print("clean crash round \(round) (\(step)): \(acknowledged.count) records acknowledged, \(count) read after recovery")
            try harness.reopen(clean: true)
        }
        #expect(latest.count >= 30)
    }
}
