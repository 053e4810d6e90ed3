import Dispatch
import Glibc
import Synchronization

/// SIGINT and SIGTERM for the client commands. The first asks the command to stop gracefully:
/// the handlers registered with `onShutdown` run (a consumer stops reading, prints, commits and
/// leaves its group; a producer stops reading input and flushes), and the command exits 0. A
/// second signal exits at once with 128 + its number (130 for SIGINT, 143 for SIGTERM), as a
/// shell reports a process the signal killed — for when the graceful part hangs (a broker that
/// went away). The graceful part flushes stdout first, so nothing printed is lost either way.
final class ShutdownSignals: Sendable {
    private struct State {
        var signal: Int32?
        var handlers: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    /// Readable from the first signal on: code blocked in poll(2) — reading input — wakes on it.
    let wakeDescriptor: Int32
    private let wakeWriter: Int32
    /// The dispatch sources must live as long as the process listens for the signals.
    private nonisolated(unsafe) var sources: [any DispatchSourceSignal] = []

    private init(wakeDescriptor: Int32, wakeWriter: Int32) {
        self.wakeDescriptor = wakeDescriptor
        self.wakeWriter = wakeWriter
    }

    /// Takes over SIGINT and SIGTERM for the rest of the process.
    static func install() -> ShutdownSignals {
        var ends: [Int32] = [-1, -1]
        // Without a pipe, poll-based readers only see the stop flag at their next input.
        if pipe(&ends) == 0 {
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        } else {
            ends = [-1, -1]
        }
        let signals = ShutdownSignals(wakeDescriptor: ends[0], wakeWriter: ends[1])
        for number in [SIGINT, SIGTERM] {
            // Ignored first, so the default action (terminate, unflushed) never runs; the
            // dispatch source still sees each delivery.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { signals.received(number) }
            source.resume()
            signals.sources.append(source)
        }
        return signals
    }

    /// Whether a first signal has come.
    var requested: Bool { state.withLock { $0.signal != nil } }

    /// Runs `handler` on the first signal, or now when it has already come.
    func onShutdown(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.signal != nil { return true }
            state.handlers.append(handler)
            return false
        }
        if now { handler() }
    }

    private func received(_ number: Int32) {
        let handlers = state.withLock { state -> [@Sendable () -> Void]? in
            guard state.signal == nil else { return nil }
            state.signal = number
            defer { state.handlers = [] }
            return state.handlers
        }
        guard let handlers else {
            // The second signal: no flushing, no waiting — stdout may be what is stuck.
            _exit(128 + number)
        }
        note("stopping (\(number == SIGINT ? "SIGINT" : "SIGTERM")); a second signal exits at once")
        var byte: UInt8 = 1
        if wakeWriter >= 0 { _ = write(wakeWriter, &byte, 1) }
        for handler in handlers { handler() }
    }
}
