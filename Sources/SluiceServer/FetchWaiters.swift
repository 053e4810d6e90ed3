import NIOCore
import SluiceCore
import Synchronization

/// Long-poll fetches waiting for data: a fetch that has less than MinBytes registers on the
/// partitions it reads, and the first high-watermark move on any of them wakes it — once, and
/// it leaves all of them, so an idle partition never collects stale waiters.
final class FetchWaiters: Sendable {
    private struct Waiter {
        let partitions: [ObjectIdentifier]
        let wake: @Sendable () -> Void
    }

    private struct State {
        var nextID = 0
        var waiters: [Int: Waiter] = [:]
        var byPartition: [ObjectIdentifier: Set<Int>] = [:]

        mutating func remove(_ id: Int) -> Waiter? {
            guard let waiter = waiters.removeValue(forKey: id) else { return nil }
            for key in waiter.partitions {
                byPartition[key]?.remove(id)
                if byPartition[key]?.isEmpty == true { byPartition[key] = nil }
            }
            return waiter
        }
    }

    private let state = Mutex(State())

    /// Registers `wake` on every partition; returns a token to cancel with.
    func register(on partitions: [Partition], wake: @escaping @Sendable () -> Void) -> Int {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            let keys = partitions.map { ObjectIdentifier($0) }
            state.waiters[id] = Waiter(partitions: keys, wake: wake)
            for key in keys { state.byPartition[key, default: []].insert(id) }
            return id
        }
    }

    func cancel(_ id: Int) {
        _ = state.withLock { $0.remove(id) }
    }

    /// Called on the partition's owner when its high watermark moved.
    func highWatermarkMoved(_ partition: Partition) {
        let woken = state.withLock { state -> [Waiter] in
            guard let ids = state.byPartition[ObjectIdentifier(partition)] else { return [] }
            return ids.compactMap { state.remove($0) }
        }
        for waiter in woken { waiter.wake() }
    }

    /// Waiters registered, for tests and metrics.
    var count: Int { state.withLock { $0.waiters.count } }
    var partitionEntries: Int { state.withLock { $0.byPartition.values.reduce(0) { $0 + $1.count } } }
}
