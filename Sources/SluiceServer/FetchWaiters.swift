import NIOCore
import SluiceCore
import Synchronization

/// Long-poll fetches waiting for data: a fetch that has less than MinBytes registers on the
/// partitions it reads, and the first high-watermark move on any of them wakes it.
final class FetchWaiters: Sendable {
    private struct State {
        var nextID = 0
        var waiters: [ObjectIdentifier: [Int: @Sendable () -> Void]] = [:]
    }

    private let state = Mutex(State())

    /// Registers `wake` on every partition; returns a token to cancel with.
    func register(on partitions: [Partition], wake: @escaping @Sendable () -> Void) -> Int {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            for partition in partitions {
                state.waiters[ObjectIdentifier(partition), default: [:]][id] = wake
            }
            return id
        }
    }

    func cancel(_ id: Int, on partitions: [Partition]) {
        state.withLock { state in
            for partition in partitions {
                state.waiters[ObjectIdentifier(partition)]?[id] = nil
            }
        }
    }

    /// Called on the partition's owner when its high watermark moved.
    func highWatermarkMoved(_ partition: Partition) {
        let wake = state.withLock { state -> [@Sendable () -> Void] in
            guard let waiters = state.waiters.removeValue(forKey: ObjectIdentifier(partition)) else { return [] }
            return Array(waiters.values)
        }
        for callback in wake { callback() }
    }
}
