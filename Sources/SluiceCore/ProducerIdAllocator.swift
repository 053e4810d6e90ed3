import Glibc
import Synchronization

/// Hands out producer ids that are never reused, also across restarts: ids come from blocks
/// whose end is written to `producer-ids` in the data directory before any id of the block is
/// given out, so a crash skips at most the rest of one block.
public final class ProducerIdAllocator: Sendable {
    private struct State {
        var next: Int64
        var blockEnd: Int64
    }

    private let state: Mutex<State>
    private let path: String
    static let blockSize: Int64 = 1000

    public init(dataDirectory: String) throws {
        path = dataDirectory + "/producer-ids"
        let stored = readText(path).flatMap { Int64($0.trimmingWhitespace().split(separator: "\n").first ?? "") } ?? 0
        state = Mutex(State(next: stored, blockEnd: stored))
    }

    public func allocate() throws -> Int64 {
        try state.withLock { state in
            if state.next >= state.blockEnd {
                let end = state.next + Self.blockSize
                try writeTextAtomically(path, "\(end)\n")
                state.blockEnd = end
            }
            defer { state.next += 1 }
            return state.next
        }
    }
}
