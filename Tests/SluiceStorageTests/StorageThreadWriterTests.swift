import Glibc
import NIOCore
import Synchronization
import Testing
@testable import SluiceStorage

/// The storage thread's ordering promises, with a back end that records what it was given.
@Suite("Storage thread")
struct StorageThreadWriterTests {
    /// Records every group and, while `gate` is held, blocks in perform().
    final class RecordingBackend: IOBackend, @unchecked Sendable {
        let groups = Mutex<[[Int64]]>([])
        let gate = ConditionLockBox()

        func perform(_ group: [WriteRequest]) -> [Result<Void, StorageError>] {
            gate.waitOpen()
            groups.withLock { $0.append(group.map(\.position)) }
            return PwriteBackend().perform(group)
        }
    }

    final class ConditionLockBox: @unchecked Sendable {
        private let lock = Mutex(true)
        func close() { lock.withLock { $0 = false } }
        func open() { lock.withLock { $0 = true } }
        func waitOpen() { while !lock.withLock({ $0 }) { usleep(1000) } }
    }

    @Test func aBackgroundSyncCoversTheWritesBeforeItAndHoldsUpNone() throws {
        let directory = TemporaryDirectory()
        let file = try SegmentFile.open(path: directory.path + "/f", create: true)
        let backend = RecordingBackend()
        let writer = StorageThreadWriter(backend: backend, name: "recording")
        let events = Mutex<[String]>([])
        backend.gate.close()
        // The first write holds the storage thread; everything else queues behind it as one group.
        writer.submit(WriteRequest(file: file, position: 0, data: ByteBuffer(string: "a"), sync: false) { _ in
            events.withLock { $0.append("write a") }
        })
        usleep(50_000)
        writer.submit(WriteRequest(file: file, position: 1, data: ByteBuffer(string: "b"), sync: false) { _ in
            events.withLock { $0.append("write b") }
        })
        writer.submit(WriteRequest(file: file, position: 0, data: ByteBuffer(), sync: true, background: true) { result in
            events.withLock { $0.append("background sync \(result)") }
        })
        writer.submit(WriteRequest(file: file, position: 2, data: ByteBuffer(string: "c"), sync: true) { _ in
            events.withLock { $0.append("write c") }
        })
        backend.gate.open()
        let deadline = ContinuousClock.now + .seconds(30)
        while events.withLock({ $0.count }) < 4 && ContinuousClock.now < deadline { usleep(1000) }
        writer.shutdown()
        let seen = events.withLock { $0 }
        #expect(seen.count == 4, "\(seen)")
        // The background sync never reached the back end: the group held the writes only.
        #expect(backend.groups.withLock { $0 } == [[0], [1, 2]])
        // It completed after the writes queued before it.
        let sync = try #require(seen.firstIndex { $0.hasPrefix("background sync") })
        #expect(seen[sync].hasSuffix("success()"), "\(seen[sync])")
        #expect(seen.firstIndex(of: "write a")! < sync && seen.firstIndex(of: "write b")! < sync)
    }

    /// The voluntary context switches of this process's threads named `name` (/proc).
    static func contextSwitches(ofThreadsNamed name: String) -> Int? {
        guard let tasks = opendir("/proc/self/task") else { return nil }
        defer { closedir(tasks) }
        var total: Int?
        while let entry = readdir(tasks) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard tid.first?.isNumber == true,
                  let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
                  comm.trimmingCharacters(in: .whitespacesAndNewlines) == name,
                  let status = try? String(contentsOfFile: "/proc/self/task/\(tid)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
                total = (total ?? 0) + (Int(line.split(separator: "\t").last.map(String.init) ?? "") ?? 0)
            }
        }
        return total
    }

    /// The threads carry names operators see in top and perf, and appends without background
    /// syncs leave the second thread asleep (it once woke, for nothing, once per group).
    @Test func writesWithoutBackgroundSyncsLeaveTheSyncThreadAsleep() throws {
        let directory = TemporaryDirectory()
        let file = try SegmentFile.open(path: directory.path + "/f", create: true)
        let writer = StorageThreadWriter(backend: PwriteBackend(), name: "pwrite")
        defer { writer.shutdown() }
        let done = Mutex(0)
        // One write first, so both threads have started and named themselves.
        writer.submit(WriteRequest(file: file, position: 0, data: ByteBuffer(string: "a"), sync: false) { _ in done.withLock { $0 += 1 } })
        let deadline = ContinuousClock.now + .seconds(30)
        while done.withLock({ $0 }) < 1 && ContinuousClock.now < deadline { usleep(1000) }
        usleep(20_000)
        let before = try #require(Self.contextSwitches(ofThreadsNamed: "sluice-syncs"))
        #expect(Self.contextSwitches(ofThreadsNamed: "sluice-storage") != nil)
        for position in 1...200 {
            writer.submit(WriteRequest(file: file, position: Int64(position), data: ByteBuffer(string: "b"), sync: false) { _ in
                done.withLock { $0 += 1 }
            })
            usleep(200)  // so most writes are groups of their own
        }
        while done.withLock({ $0 }) < 201 && ContinuousClock.now < deadline { usleep(1000) }
        #expect(done.withLock { $0 } == 201)
        let after = try #require(Self.contextSwitches(ofThreadsNamed: "sluice-syncs"))
        // Other tests' writers have threads of the same name; none of them should be busy either.
        #expect(after - before < 20, "the sync thread woke \(after - before) times for 200 writes without a sync")
    }
}
