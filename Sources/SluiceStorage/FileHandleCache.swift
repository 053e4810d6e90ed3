import Glibc
import Synchronization

/// Open descriptors for segments, least recently used first out, so that however many
/// partitions and segments there are, open descriptors stay within `capacity`. Evicting only
/// drops the cache's reference: a fetch still sending from a file, or a write in flight, keeps
/// it open until done, and the next use reopens it by path.
///
/// Shared by every partition; the lock is held only for a dictionary lookup.
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
        return adopt(file, path: path)
    }

    /// Caches a file just opened, returning the cached one if another thread won the race. A
    /// file just created (`replacing`) takes the place of whatever was cached for its path.
    @discardableResult
    func adopt(_ file: SegmentFile, path: String, replacing: Bool = false) -> SegmentFile {
        state.withLock { state in
            if !replacing, let raced = state.files[path] { return raced.file }
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
