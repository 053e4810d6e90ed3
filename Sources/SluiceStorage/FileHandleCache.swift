import Glibc
import Synchronization

/// Open descriptors for segments that are not active, least recently used first out, so that
/// thousands of segments never exhaust file descriptors. Evicting only drops the cache's
/// reference: a fetch still sending from a file keeps it open until it is done.
///
/// Shared by every partition; the lock is taken only when a fetch reads an older segment.
public final class FileHandleCache: Sendable {
    private struct State {
        var files: [String: (file: SegmentFile, lastUse: UInt64)] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// A budget from the process's descriptor limit: half of it, leaving the rest for sockets.
    public static func capacityForCurrentLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 512 }
        return max(64, Int(min(limit.rlim_cur, 1 << 20)) / 2)
    }

    func file(path: String) throws -> SegmentFile {
        if let cached = state.withLock({ state -> SegmentFile? in
            guard let entry = state.files[path] else { return nil }
            state.clock += 1
            state.files[path] = (entry.file, state.clock)
            return entry.file
        }) {
            return cached
        }
        let file = try SegmentFile.open(path: path, create: false)
        return state.withLock { state in
            if let raced = state.files[path] { return raced.file }
            state.clock += 1
            state.files[path] = (file, state.clock)
            if state.files.count > capacity {
                // Evict the least recently used eighth at once, so the sort is amortized.
                let victims = state.files.sorted { $0.value.lastUse < $1.value.lastUse }
                    .prefix(max(1, capacity / 8)).map(\.key)
                for victim in victims where victim != path { state.files[victim] = nil }
            }
            return file
        }
    }

    func forget(path: String) {
        _ = state.withLock { state in state.files.removeValue(forKey: path) }
    }

    var openCount: Int { state.withLock { $0.files.count } }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (Kafka's deployments need the same);
/// returns the new soft limit.
@discardableResult
public func raiseFileDescriptorLimit() -> UInt64 {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_max) }
    }
    return UInt64(limit.rlim_cur)
}
