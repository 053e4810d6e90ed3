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

/// Plain pwrite + fdatasync: the fallback, and the baseline the benchmarks compare against.
struct PwriteBackend: IOBackend {
    func perform(_ group: [WriteRequest]) -> [Result<Void, StorageError>] {
        var results = [Result<Void, StorageError>](repeating: .success(()), count: group.count)
        var failedFiles = [ObjectIdentifier: StorageError]()
        for (index, request) in group.enumerated() where request.data.readableBytes > 0 {
            if let failure = failedFiles[ObjectIdentifier(request.file)] {
                results[index] = .failure(failure)
                continue
            }
            let error: StorageError? = request.data.withUnsafeReadableBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = pwrite(request.file.descriptor, raw.baseAddress! + done, raw.count - done,
                                   off_t(request.position) + off_t(done))
                    if n < 0 {
                        if errno == EINTR { continue }
                        return storageError(errno: errno, operation: "pwrite", path: request.file.path)
                    }
                    done += n
                }
                return nil
            }
            if let error {
                results[index] = .failure(error)
                // Later writes to the same file would leave a hole; fail them too.
                failedFiles[ObjectIdentifier(request.file)] = error
            }
        }
        for file in filesToSync(group) where failedFiles[ObjectIdentifier(file)] == nil {
            var rc: Int32
            repeat { rc = fdatasync(file.descriptor) } while rc != 0 && errno == EINTR
            if rc != 0 { failedFiles[ObjectIdentifier(file)] = storageError(errno: errno, operation: "fdatasync", path: file.path) }
        }
        for (index, request) in group.enumerated() {
            if case .success = results[index], let failure = failedFiles[ObjectIdentifier(request.file)], request.sync || request.data.readableBytes > 0 {
                results[index] = .failure(failure)
            }
        }
        return results
    }
}

/// io_uring: all writes of a group in flight at once (up to the ring depth), then the
/// fdatasyncs, each completion reaped from the ring. The ring belongs to the storage thread.
final class URingBackend: IOBackend, @unchecked Sendable {
    // @unchecked: the ring is touched only by the one storage thread that calls perform().
    private let ring: OpaquePointer
    private let depth: Int

    private init(ring: OpaquePointer, depth: Int) {
        self.ring = ring
        self.depth = depth
    }

    struct Unavailable: Error {
        let reason: String
    }

    static func make(depth: Int) -> Result<URingBackend, Unavailable> {
        if ProcessInfoLite.environment("SLUICE_DISABLE_IO_URING") != nil {
            return .failure(Unavailable(reason: "io_uring disabled by SLUICE_DISABLE_IO_URING"))
        }
        var error: Int32 = 0
        guard let ring = sluice_uring_create(UInt32(depth), &error) else {
            return .failure(Unavailable(reason: "io_uring_queue_init failed: \(String(cString: strerror(-error)))"))
        }
        return .success(URingBackend(ring: ring, depth: depth))
    }

    deinit {
        sluice_uring_destroy(ring)
    }

    func perform(_ group: [WriteRequest]) -> [Result<Void, StorageError>] {
        var results = [Result<Void, StorageError>](repeating: .success(()), count: group.count)
        var failedFiles = [ObjectIdentifier: StorageError]()
        // Pending work: request index, bytes done so far. Short writes are resubmitted.
        var queue: [(index: Int, done: Int)] = group.indices.compactMap { group[$0].data.readableBytes > 0 ? ($0, 0) : nil }
        while !queue.isEmpty {
            let wave = Array(queue.prefix(depth))
            queue.removeFirst(wave.count)
            var submitted = 0
            for (slot, item) in wave.enumerated() {
                let request = group[item.index]
                // The pointer outlives this closure: the request (and so its ByteBuffer) stays
                // alive in `group` until the completion is reaped below, and nothing mutates it.
                let rc = request.data.withUnsafeReadableBytes { raw in
                    sluice_uring_prep_write(ring, request.file.descriptor, raw.baseAddress! + item.done,
                                            UInt32(raw.count - item.done), UInt64(request.position) + UInt64(item.done),
                                            UInt64(slot), 0)
                }
                precondition(rc == 0, "submission queue full below its depth")
                submitted += 1
            }
            let completions = submitAndReap(count: submitted)
            for (slot, result) in completions {
                let item = wave[Int(slot)]
                let request = group[item.index]
                if result < 0 {
                    let error = storageError(errno: -result, operation: "io_uring write", path: request.file.path)
                    results[item.index] = .failure(error)
                    failedFiles[ObjectIdentifier(request.file)] = error
                } else if item.done + Int(result) < request.data.readableBytes {
                    if result == 0 {
                        let error = StorageError.io(errno: EIO, operation: "io_uring write (no progress)", path: request.file.path)
                        results[item.index] = .failure(error)
                        failedFiles[ObjectIdentifier(request.file)] = error
                    } else {
                        queue.append((item.index, item.done + Int(result)))
                    }
                }
            }
        }
        let syncs = filesToSync(group).filter { failedFiles[ObjectIdentifier($0)] == nil }
        var start = 0
        while start < syncs.count {
            let wave = syncs[start..<min(start + depth, syncs.count)]
            for (slot, file) in wave.enumerated() {
                precondition(sluice_uring_prep_fdatasync(ring, file.descriptor, UInt64(slot), 0) == 0)
            }
            for (slot, result) in submitAndReap(count: wave.count) where result < 0 {
                let file = wave[wave.startIndex + Int(slot)]
                failedFiles[ObjectIdentifier(file)] = storageError(errno: -result, operation: "io_uring fdatasync", path: file.path)
            }
            start += wave.count
        }
        for (index, request) in group.enumerated() {
            if case .success = results[index], let failure = failedFiles[ObjectIdentifier(request.file)] {
                results[index] = .failure(failure)
            }
        }
        return results
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
