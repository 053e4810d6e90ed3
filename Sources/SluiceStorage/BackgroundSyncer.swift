import Glibc
import NIOConcurrencyHelpers

/// The thread that runs background syncs (`WriteRequest.background`) for a storage thread. The
/// storage thread hands a sync over only once every write queued before it has been made, so
/// the sync still covers them; appends meanwhile go on. Syncs of one file that queue up while
/// another runs share one fdatasync.
final class BackgroundSyncer: @unchecked Sendable {
    // @unchecked: `pending` and `stopping` are guarded by `condition`.
    private let condition = ConditionLock(value: 0)
    private var pending: [WriteRequest] = []
    private var stopping = false
    private var thread: pthread_t?

    private static let idle = 0
    private static let hasWork = 1

    init() {
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { argument in
            let syncer = Unmanaged<BackgroundSyncer>.fromOpaque(argument!).takeRetainedValue()
            syncer.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "cannot start the background sync thread: \(rc)")
        thread = handle
    }

    func submit(_ requests: [WriteRequest]) {
        guard !requests.isEmpty else { return }
        condition.lock()
        precondition(!stopping, "background sync submitted after shutdown")
        pending.append(contentsOf: requests)
        condition.unlock(withValue: Self.hasWork)
    }

    /// Runs what is queued, then stops the thread.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.unlock(withValue: Self.hasWork)
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
    }

    private func run() {
        while true {
            condition.lock(whenValue: Self.hasWork)
            let group = pending
            pending.removeAll(keepingCapacity: true)
            let stop = stopping
            condition.unlock(withValue: Self.idle)
            if !group.isEmpty {
                let failures = syncInline(filesToSync(group))
                for request in group {
                    request.completion(failures[ObjectIdentifier(request.file)].map { .failure($0) } ?? .success(()))
                }
            }
            if stop { return }
        }
    }
}
