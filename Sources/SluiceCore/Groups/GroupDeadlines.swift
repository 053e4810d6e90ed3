/// The groups' next deadlines (member sessions, join and sync phases, pending member ids),
/// earliest first, so the coordinator acts on each when it comes due instead of sweeping on a
/// tick: Kafka expires a session with a timer at its deadline, and clients time their retries
/// (and tests their DeleteGroups) by it.
///
/// An entry may be stale: a heartbeat moves a member's deadline later without touching the
/// queue. The stale entry still comes due; the group is checked, found alive, and scheduled at
/// its real next deadline. So only deadlines that move *earlier* need an insert, and the queue
/// holds about one entry per group.
struct GroupDeadlines {
    private var heap: [(atMs: Int64, groupId: String)] = []

    var earliest: Int64? { heap.first?.atMs }
    var count: Int { heap.count }

    mutating func insert(_ atMs: Int64, groupId: String) {
        heap.append((atMs, groupId))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].atMs < heap[parent].atMs else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes every entry due at `nowMs` and returns their groups, each once, earliest first.
    mutating func popDue(nowMs: Int64) -> [String] {
        var due: [String] = []
        var seen: Set<String> = []
        while let top = heap.first, top.atMs <= nowMs {
            removeFirst()
            if seen.insert(top.groupId).inserted { due.append(top.groupId) }
        }
        return due
    }

    private mutating func removeFirst() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].atMs < heap[smallest].atMs { smallest = left }
            if right < heap.count && heap[right].atMs < heap[smallest].atMs { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
