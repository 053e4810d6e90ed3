@testable import SluiceClient
import Testing

/// The fetcher's wakeup: a wait that times out or is cancelled must leave the signal working,
/// and a signal given while nobody waits must not be lost.
@Suite("WakeupSignal")
struct WakeupSignalTests {
    @Test func aSignalBeforeTheWaitIsKeptOnce() async {
        let signal = WakeupSignal()
        signal.signal()
        signal.signal()
        #expect(await signal.wait(timeout: .seconds(10)))
        let start = ContinuousClock.now
        #expect(await signal.wait(timeout: .milliseconds(50)) == false, "signals do not accumulate")
        #expect(ContinuousClock.now - start >= .milliseconds(50))
    }

    @Test func waitsAfterATimeoutStillWait() async {
        let signal = WakeupSignal()
        for _ in 0..<3 {
            let start = ContinuousClock.now
            #expect(await signal.wait(timeout: .milliseconds(30)) == false)
            // An AsyncStream-based wait returned at once from here on.
            #expect(ContinuousClock.now - start >= .milliseconds(30))
        }
        let waiter = Task { await signal.wait(timeout: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(20))
        signal.signal()
        #expect(await waiter.value, "a signal still wakes a waiter after timeouts")
    }

    @Test func cancellingTheWaiterEndsItsWaitOnly() async {
        let signal = WakeupSignal()
        let waiter = Task { await signal.wait(timeout: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        #expect(await waiter.value == false)
        let start = ContinuousClock.now
        #expect(await signal.wait(timeout: .milliseconds(30)) == false)
        #expect(ContinuousClock.now - start >= .milliseconds(30))
        signal.signal()
        #expect(await signal.wait(timeout: .seconds(10)))
    }

    /// Signals racing with short waits from another task: every wait ends, none hangs.
    @Test(.timeLimit(.minutes(1)))
    func racingSignalsAndTimeoutsNeverHang() async {
        let signal = WakeupSignal()
        let signaller = Task {
            while !Task.isCancelled {
                signal.signal()
                await Task.yield()
            }
        }
        var woken = 0
        for _ in 0..<5_000 where await signal.wait(timeout: .microseconds(50)) { woken += 1 }
        signaller.cancel()
        #expect(woken > 0)
    }
}
