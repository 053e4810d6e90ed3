import Glibc
import KafkaProtocol
import Logging
import Synchronization
import Testing
@testable import SluiceCore
@testable import SluiceServer
import SluiceStorage

@Suite("Long-poll waiters")
struct FetchWaitersTests {
    final class Fixture {
        let directory: String
        let writer: any LogWriter = makeLogWriter(backend: .pwrite).writer
        let owner = SerialQueueOwner()

        init() {
            var template = Array("/tmp/sluice-waiters-XXXXXX".utf8CString)
            directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        }

        deinit {
            writer.shutdown()
            _ = system("rm -rf '\(directory)'")
        }

        func partition(_ index: Int32) throws -> Partition {
            let log = try owner.run {
                try PartitionLog(directory: directory + "/t-\(index)", config: LogConfig(), writer: writer, owner: owner,
                                 files: FileHandleCache(capacity: 4), cleanShutdown: false, nowMs: 0,
                                 logger: Logger(label: "test"))
            }
            return Partition(topic: "t", topicId: .zero, index: index, owner: owner, localBroker: 1, log: log)
        }
    }

    /// A fetch waiting on an active and an idle partition is woken by the active one, once, and
    /// leaves the idle one's list too: polling in a loop must not grow it.
    @Test func aWokenFetchLeavesEveryPartitionItWaitedOn() throws {
        let fixture = Fixture()
        let active = try fixture.partition(0)
        let idle = try fixture.partition(1)
        let waiters = FetchWaiters()
        let wakes = Atomic<Int>(0)
        for _ in 0..<100 {
            _ = waiters.register(on: [active, idle]) { wakes.wrappingAdd(1, ordering: .relaxed) }
            waiters.highWatermarkMoved(active)
        }
        #expect(wakes.load(ordering: .relaxed) == 100)
        #expect(waiters.count == 0)
        #expect(waiters.partitionEntries == 0)
        // A cancelled waiter (the long poll timed out) is gone as well and is never woken.
        let token = waiters.register(on: [active, idle]) { wakes.wrappingAdd(1, ordering: .relaxed) }
        waiters.cancel(token)
        waiters.highWatermarkMoved(idle)
        #expect(wakes.load(ordering: .relaxed) == 100)
        #expect(waiters.partitionEntries == 0)
    }
}
