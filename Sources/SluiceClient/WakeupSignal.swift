import Synchronization

/// Wakes one waiting task: `signal()` resumes the task in `wait`, or, when none is waiting,
/// makes the next `wait` return at once. Signals do not accumulate: many before a wait wake it
/// once, as a `bufferingNewest(1)` stream would.
///
/// Why not such a stream: a wait with a timeout must be able to give up, and cancelling a task
/// that awaits an `AsyncStream` iterator's `next()` terminates the stream for good, so every
/// later wait on it returned at once and the waiting loop spun on a core. Here a wait that
/// times out or is cancelled only removes its own waiter; the signal stays usable.
///
/// One task waits at a time (the loop that owns the signal); `signal()` may come from anywhere.
final class WakeupSignal: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        /// A signal that arrived while nobody waited.
        var pending = false
        var waiter: Waiter?
        /// The id of the latest wait, and whether it already timed out or was cancelled before
        /// its continuation was in place (so it must not start waiting).
        var currentId: UInt64 = 0
        var currentExpired = false
    }

    private let state = Mutex(State())

    init() {}

    /// Wakes the waiting task, or the next one to wait.
    func signal() {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: true)
    }

    /// Waits for a signal; true when signalled, false when `timeout` passed or the task was
    /// cancelled first.
    @discardableResult
    func wait(timeout: Duration) async -> Bool {
        // A signal already there costs no timer.
        let (signalled, id) = state.withLock { state -> (Bool, UInt64) in
            if state.pending {
                state.pending = false
                return (true, 0)
            }
            state.currentId &+= 1
            state.currentExpired = false
            return (false, state.currentId)
        }
        if signalled { return true }
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            expire(id)
        }
        // The timer must not outlive the wait: cancelled, it wakes from its sleep at once and
        // finds its waiter gone.
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let (immediate, displaced) = state.withLock { state -> (Bool?, Waiter?) in
                    if state.pending {
                        state.pending = false
                        return (true, nil)
                    }
                    if state.currentExpired || state.currentId != id || Task.isCancelled { return (false, nil) }
                    // A second waiter is a misuse; the earlier one is let go rather than leaked.
                    defer { state.waiter = Waiter(id: id, continuation: continuation) }
                    return (nil, state.waiter)
                }
                displaced?.continuation.resume(returning: false)
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            expire(id)
        }
    }

    /// Ends the wait `id` without a signal: resumes its waiter, or, when its continuation is
    /// not in place yet, marks it so that it does not start waiting.
    private func expire(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            if let waiter = state.waiter, waiter.id == id {
                state.waiter = nil
                return waiter
            }
            if state.currentId == id { state.currentExpired = true }
            return nil
        }
        waiter?.continuation.resume(returning: false)
    }
}
