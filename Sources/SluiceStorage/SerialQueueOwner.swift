import Dispatch

/// A `LogOwnerExecutor` on one serial dispatch queue: for tools, tests, and embedding the log
/// without an event loop. The broker uses its event loops instead.
public final class SerialQueueOwner: LogOwnerExecutor, @unchecked Sendable {
    // @unchecked: the only stored property is the queue, which is thread-safe.
    public let queue: DispatchQueue

    private let key = DispatchSpecificKey<Bool>()

    public init(label: String = "sluice.log-owner") {
        queue = DispatchQueue(label: label)
        queue.setSpecific(key: key, value: true)
    }

    public var isCurrent: Bool { DispatchQueue.getSpecific(key: key) == true }

    public func execute(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Runs `body` on the queue and waits for it (never call from the queue itself).
    @discardableResult
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        try queue.sync(execute: body)
    }

    public func scheduleRepeated(everyMs intervalMs: Int64, _ work: @escaping @Sendable () -> Void) -> any LogScheduledTask {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .milliseconds(Int(intervalMs)), repeating: .milliseconds(Int(intervalMs)))
        timer.setEventHandler(handler: work)
        timer.resume()
        return DispatchTimer(timer: timer)
    }

    public func schedule(afterMs delayMs: Int64, _ work: @escaping @Sendable () -> Void) -> any LogScheduledTask {
        let item = DispatchWorkItem(block: work)
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(max(0, delayMs))), execute: item)
        return DispatchWork(item: item)
    }

    private struct DispatchWork: LogScheduledTask, @unchecked Sendable {
        // @unchecked: DispatchWorkItem is thread-safe; cancel may be called from anywhere.
        let item: DispatchWorkItem
        func cancel() { item.cancel() }
    }

    private struct DispatchTimer: LogScheduledTask, @unchecked Sendable {
        // @unchecked: DispatchSource is thread-safe; cancel may be called from anywhere.
        let timer: any DispatchSourceTimer
        func cancel() { timer.cancel() }
    }
}
