import NIOCore
import Synchronization

/// Holds a cluster broker's client requests until it may answer them. Kafka's BrokerServer
/// enables request processing only once the broker has caught up with the metadata log and the
/// controller has unfenced it; before that this broker's image may be empty or stale (just
/// restarted, it replays the log), and answers from it mislead clients: a Metadata response
/// with no brokers and no topic makes librdkafka drop the brokers it knew. Requests wait here,
/// in the order they came; their connections stay open (each holds at most
/// `connection.max.pending.requests`).
final class RequestGate: Sendable {
    private let opened: Atomic<Bool>
    private let waiting = Mutex<[EventLoopPromise<Void>]?>([])

    init(open: Bool) {
        opened = Atomic(open)
        if open { waiting.withLock { $0 = nil } }
    }

    var isOpen: Bool { opened.load(ordering: .acquiring) }

    /// Completes once the gate is open (at once when it is).
    func whenOpen(on loop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        let queued = waiting.withLock { waiting -> Bool in
            guard waiting != nil else { return false }
            waiting?.append(promise)
            return true
        }
        if !queued { promise.succeed(()) }
        return promise.futureResult
    }

    /// Lets every held request through, and every later one straight away.
    func open() {
        guard !opened.load(ordering: .acquiring) else { return }
        let released = waiting.withLock { waiting -> [EventLoopPromise<Void>] in
            defer { waiting = nil }
            return waiting ?? []
        }
        opened.store(true, ordering: .releasing)
        for promise in released { promise.succeed(()) }
    }

    /// The broker stops before it ever opened: held requests fail (their connections close).
    func close() {
        let dropped = waiting.withLock { waiting -> [EventLoopPromise<Void>] in
            defer { waiting = nil }
            return waiting ?? []
        }
        for promise in dropped { promise.fail(ChannelError.ioOnClosedChannel) }
    }
}
