import CSluiceUring
import Glibc
import NIOCore

/// Carries out one group of requests; returns one result per request, in order.
protocol IOBackend: Sendable {
    func perform(_ group: [WriteRequest]) -> [Result<Void, StorageError>]
}

func storageError(errno code: Int32, operation: String, path: String) -> StorageError {
    code == ENOSPC || code == EDQUOT ? .diskFull(path: path) : .io(errno: code, operation: operation, path: path)
}

/// Distinct files, in first-seen order, that some request in the group wants synced.
func filesToSync(_ group: [WriteRequest]) -> [SegmentFile] {
    var seen = Set<ObjectIdentifier>()
    var files: [SegmentFile] = []
    for request in group where request.sync && seen.insert(ObjectIdentifier(request.file)).inserted {
        files.append(request.file)
    }
    return files
}

/// Consecutive requests that write back to back into one file become one vectored write: a
/// partition's appends queued together cost one syscall (or one SQE) instead of one each.
struct WriteRun {
    let file: SegmentFile
    let position: Int64
    var members: [Int] = []
    var byteCount = 0

    /// At most this many buffers per vectored write (IOV_MAX on Linux is 1024).
    static let maximumMembers = 1024

    static func plan(_ group: [WriteRequest]) -> [WriteRun] {
        var runs: [WriteRun] = []
        var open: [ObjectIdentifier: Int] = [:]
        for (index, request) in group.enumerated() where request.data.readableBytes > 0 {
            let key = ObjectIdentifier(request.file)
            if let runIndex = open[key], runs[runIndex].position + Int64(runs[runIndex].byteCount) == request.position,
               runs[runIndex].members.count < maximumMembers {
                runs[runIndex].members.append(index)
                runs[runIndex].byteCount += request.data.readableBytes
            } else {
                var run = WriteRun(file: request.file, position: request.position)
                run.members = [index]
                run.byteCount = request.data.readableBytes
                open[key] = runs.count
                runs.append(run)
            }
        }
        return runs
    }

    /// Fills `iovecs` with the run's buffers, skipping the first `skip` bytes; returns the count.
    /// The pointers stay valid while `group` holds the buffers and nothing mutates them.
    func fill(_ iovecs: UnsafeMutablePointer<iovec>, from group: [WriteRequest], skip: Int) -> Int {
        var remainingSkip = skip
        var count = 0
        for member in members {
            let data = group[member].data
            let length = data.readableBytes
            if remainingSkip >= length {
                remainingSkip -= length
                continue
            }
            let base = data.withUnsafeReadableBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
            iovecs[count] = iovec(iov_base: base + remainingSkip, iov_len: length - remainingSkip)
            remainingSkip = 0
            count += 1
        }
        return count
    }
}

/// Applies run and sync outcomes to per-request results: a request fails when its run's write
/// failed or when a sync of its file failed.
func results(for group: [WriteRequest], runFailures: [Int: StorageError], runs: [WriteRun],
             syncFailures: [ObjectIdentifier: StorageError]) -> [Result<Void, StorageError>] {
    var results = [Result<Void, StorageError>](repeating: .success(()), count: group.count)
    var failedFiles = syncFailures
    for (runIndex, error) in runFailures {
        failedFiles[ObjectIdentifier(runs[runIndex].file)] = failedFiles[ObjectIdentifier(runs[runIndex].file)] ?? error
    }
    for (index, request) in group.enumerated() {
        if let failure = failedFiles[ObjectIdentifier(request.file)] {
            // After a failed write to a file, later writes to it would leave a hole: fail them all.
            results[index] = .failure(failure)
        }
    }
    return results
}

/// Writes each run with pwritev on the calling thread; failures by run index.
func writeRunsInline(_ runs: [WriteRun], of group: [WriteRequest]) -> [Int: StorageError] {
    var runFailures: [Int: StorageError] = [:]
    let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: WriteRun.maximumMembers)
    defer { iovecs.deallocate() }
    for (runIndex, run) in runs.enumerated() {
        var done = 0
        while done < run.byteCount {
            let count = run.fill(iovecs, from: group, skip: done)
            let n = pwritev(run.file.descriptor, iovecs, Int32(count), off_t(run.position) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                runFailures[runIndex] = storageError(errno: errno, operation: "pwritev", path: run.file.path)
                break
            }
            if n == 0 {
                runFailures[runIndex] = .io(errno: EIO, operation: "pwritev (no progress)", path: run.file.path)
                break
            }
            done += n
        }
    }
    return runFailures
}

/// fdatasync of each file on the calling thread, one after another; failures by file.
func syncInline(_ files: [SegmentFile]) -> [ObjectIdentifier: StorageError] {
    var syncFailures: [ObjectIdentifier: StorageError] = [:]
    for file in files {
        var rc: Int32
        repeat { rc = fdatasync(file.descriptor) } while rc != 0 && errno == EINTR
        if rc != 0 { syncFailures[ObjectIdentifier(file)] = storageError(errno: errno, operation: "fdatasync", path: file.path) }
    }
    return syncFailures
}

/// The files of a group to sync, less those whose write already failed (they fail anyway).
func filesToSync(_ group: [WriteRequest], runs: [WriteRun], runFailures: [Int: StorageError]) -> [SegmentFile] {
    let failedRunFiles = Set(runFailures.keys.map { ObjectIdentifier(runs[$0].file) })
    return filesToSync(group).filter { !failedRunFiles.contains(ObjectIdentifier($0)) }
}

/// Plain pwritev + fdatasync: the fallback, and the baseline the benchmarks compare against.
struct PwriteBackend: IOBackend {
    func perform(_ group: [WriteRequest]) -> [Result<Void, StorageError>] {
        let runs = WriteRun.plan(group)
        let runFailures = writeRunsInline(runs, of: group)
        let syncFailures = syncInline(filesToSync(group, runs: runs, runFailures: runFailures))
        return results(for: group, runFailures: runFailures, runs: runs, syncFailures: syncFailures)
    }
}

/// io_uring: every run of a group in flight at once (up to the ring depth) as vectored writes,
/// then the fdatasyncs of all the group's files at once, each completion reaped from the ring.
/// The ring belongs to the storage thread.
///
/// By default (`URingWritePath.automatic` or `.inline`) the writes are made on the storage thread
/// on every file system, and the ring carries what it does run in parallel: the fdatasyncs of a
/// group's files, which a journal commit can then serve together instead of one file after
/// another. Only `.ring` writes through the ring. Where the file system takes no non-blocking
/// buffered write (ext4 up to at least 6.18 lacks FMODE_BUF_WASYNC), io_uring hands every write to
/// an io-wq worker thread, a thread hop per write (the 2× gap to pwrite that issue #15 measured);
/// on XFS, which takes them inline, the ring's writes still measured slower than the storage
/// thread's own. `writesInRing` says which path is in use.
final class URingBackend: IOBackend, @unchecked Sendable {
    // @unchecked: the ring is touched only by the one storage thread that calls perform().
    private let ring: OpaquePointer
    private let depth: Int
    let writesInRing: Bool

    private init(ring: OpaquePointer, depth: Int, writesInRing: Bool) {
        self.ring = ring
        self.depth = depth
        self.writesInRing = writesInRing
    }

    struct Unavailable: Error {
        let reason: String
    }

    /// `writesInRing`: see `URingWritePath`.
    static func make(depth: Int, writesInRing: Bool) -> Result<URingBackend, Unavailable> {
        if ProcessInfoLite.environment("SLUICE_DISABLE_IO_URING") != nil {
            return .failure(Unavailable(reason: "io_uring disabled by SLUICE_DISABLE_IO_URING"))
        }
        var error: Int32 = 0
        guard let ring = sluice_uring_create(UInt32(depth), &error) else {
            return .failure(Unavailable(reason: "io_uring_queue_init failed: \(String(cString: strerror(-error)))"))
        }
        return .success(URingBackend(ring: ring, depth: depth, writesInRing: writesInRing))
    }

    deinit {
        sluice_uring_destroy(ring)
    }

    func perform(_ group: [WriteRequest]) -> [Result<Void, StorageError>] {
        let runs = WriteRun.plan(group)
        let runFailures = writesInRing ? writeRunsInRing(runs, of: group) : writeRunsInline(runs, of: group)
        let syncs = filesToSync(group, runs: runs, runFailures: runFailures)
        // One file gains nothing from the ring but a hop to a worker thread.
        let syncFailures = syncs.count > 1 ? syncInRing(syncs) : syncInline(syncs)
        return results(for: group, runFailures: runFailures, runs: runs, syncFailures: syncFailures)
    }

    private func writeRunsInRing(_ runs: [WriteRun], of group: [WriteRequest]) -> [Int: StorageError] {
        var runFailures: [Int: StorageError] = [:]
        // Pending work: run index and bytes done; a short write is resubmitted for the rest.
        var queue: [(run: Int, done: Int)] = runs.indices.map { ($0, 0) }
        // One iovec array per slot, alive until that slot's completion is reaped.
        let slots = min(depth, max(1, queue.count))
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: slots * WriteRun.maximumMembers)
        defer { iovecs.deallocate() }
        while !queue.isEmpty {
            let wave = Array(queue.prefix(slots))
            queue.removeFirst(wave.count)
            for (slot, item) in wave.enumerated() {
                let run = runs[item.run]
                let vectors = iovecs + slot * WriteRun.maximumMembers
                let count = run.fill(vectors, from: group, skip: item.done)
                let rc = sluice_uring_prep_writev(ring, run.file.descriptor, vectors, UInt32(count),
                                                  UInt64(run.position) + UInt64(item.done), UInt64(slot), 0)
                precondition(rc == 0, "submission queue full below its depth")
            }
            for (slot, result) in submitAndReap(count: wave.count) {
                let item = wave[Int(slot)]
                let run = runs[item.run]
                if result < 0 {
                    runFailures[item.run] = storageError(errno: -result, operation: "io_uring writev", path: run.file.path)
                } else if result == 0 {
                    runFailures[item.run] = .io(errno: EIO, operation: "io_uring writev (no progress)", path: run.file.path)
                } else if item.done + Int(result) < run.byteCount {
                    queue.append((item.run, item.done + Int(result)))
                }
            }
        }
        return runFailures
    }

    private func syncInRing(_ syncs: [SegmentFile]) -> [ObjectIdentifier: StorageError] {
        var syncFailures: [ObjectIdentifier: StorageError] = [:]
        var start = 0
        while start < syncs.count {
            let wave = syncs[start..<min(start + depth, syncs.count)]
            for (slot, file) in wave.enumerated() {
                precondition(sluice_uring_prep_fdatasync(ring, file.descriptor, UInt64(slot), 0) == 0)
            }
            for (slot, result) in submitAndReap(count: wave.count) where result < 0 {
                let file = wave[wave.startIndex + Int(slot)]
                syncFailures[ObjectIdentifier(file)] = storageError(errno: -result, operation: "io_uring fdatasync", path: file.path)
            }
            start += wave.count
        }
        return syncFailures
    }

    /// Submits what is queued and waits for `count` completions: (user data, result) pairs.
    private func submitAndReap(count: Int) -> [(UInt64, Int32)] {
        var pairs: [(UInt64, Int32)] = []
        pairs.reserveCapacity(count)
        var rc: Int32
        repeat { rc = sluice_uring_submit(ring) } while rc == -EINTR || rc == -EAGAIN
        precondition(rc >= 0, "io_uring_submit failed: \(rc)")
        var ids = [UInt64](repeating: 0, count: count)
        var codes = [Int32](repeating: 0, count: count)
        while pairs.count < count {
            let want = count - pairs.count
            let n = ids.withUnsafeMutableBufferPointer { idp in
                codes.withUnsafeMutableBufferPointer { cp in
                    sluice_uring_reap(ring, 1, idp.baseAddress, cp.baseAddress, UInt32(want))
                }
            }
            precondition(n >= 0, "io_uring wait failed: \(n)")
            for i in 0..<Int(n) { pairs.append((ids[i], codes[i])) }
        }
        return pairs
    }
}

/// getenv without Foundation.
enum ProcessInfoLite {
    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
