import NIOCore
import SluiceCore
import SluiceStorage

/// A partition's owner: the event loop its log lives on.
struct EventLoopOwner: LogOwnerExecutor {
    let eventLoop: any EventLoop

    func execute(_ work: @escaping @Sendable () -> Void) {
        eventLoop.execute(work)
    }

    var isCurrent: Bool { eventLoop.inEventLoop }

    func scheduleRepeated(everyMs intervalMs: Int64, _ work: @escaping @Sendable () -> Void) -> any LogScheduledTask {
        let task = eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(intervalMs), delay: .milliseconds(intervalMs)) { _ in
            work()
        }
        return RepeatedTaskHandle(task: task)
    }

    func schedule(afterMs delayMs: Int64, _ work: @escaping @Sendable () -> Void) -> any LogScheduledTask {
        ScheduledTaskHandle(task: eventLoop.scheduleTask(in: .milliseconds(max(0, delayMs)), work))
    }

    private struct ScheduledTaskHandle: LogScheduledTask {
        let task: Scheduled<Void>
        func cancel() { task.cancel() }
    }

    private struct RepeatedTaskHandle: LogScheduledTask {
        let task: RepeatedTask
        func cancel() { task.cancel() }
    }
}

extension Partition {
    /// Runs `body` on the partition's owner (where its log lives) and returns what it gives.
    func onOwner<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            owner.execute { continuation.resume(returning: body()) }
        }
    }
}

extension EventLoop {
    /// Runs `task` now when called on this loop, else queues it there.
    func executeHere(_ task: @escaping @Sendable () -> Void) {
        if inEventLoop { task() } else { execute(task) }
    }
}
