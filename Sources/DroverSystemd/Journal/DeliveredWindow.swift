/// The entries a follow delivered lately, so that it can read a stretch of the journal again
/// without repeating any. A follow that adds units must go back in time: the new units' first
/// lines may sit, in the journal's order, before the last line it delivered (they were written
/// before the follow heard of the units). It goes back to `resumePoint` and skips what is here.
struct DeliveredWindow {
    /// How far back a reopened follow reads.
    let span: UInt64
    /// The most entries remembered; beyond it the oldest go and the resume point moves up.
    let capacity: Int

    private var entries: [(realtime: UInt64, cursor: String)] = []
    private var head = 0
    private var cursors: Set<String> = []
    private var newest: UInt64 = 0
    /// No entry at or after this time was forgotten; none before the first delivered is
    /// wanted (the follow started after it).
    private var floor: UInt64?

    init(span: UInt64 = 30_000_000, capacity: Int = 5_000) {
        self.span = span
        self.capacity = max(1, capacity)
    }

    var isEmpty: Bool { head == entries.count }

    mutating func record(realtime: UInt64, cursor: String) {
        if floor == nil { floor = realtime }
        entries.append((realtime, cursor))
        cursors.insert(cursor)
        newest = max(newest, realtime)
        let cutoff = newest > span ? newest - span : 0
        // Delivery order is nearly time order: forget from the front while it is old enough.
        while head < entries.count, entries[head].realtime < cutoff || entries.count - head > capacity {
            let forgotten = entries[head]
            cursors.remove(forgotten.cursor)
            if forgotten.realtime >= cutoff { floor = max(floor ?? 0, forgotten.realtime + 1) }
            head += 1
        }
        if head > 1_024, head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    func contains(_ cursor: String) -> Bool { cursors.contains(cursor) }

    /// Where to read again from: every entry delivered at or after it is still remembered,
    /// and it is not before the first one delivered. Nil before anything was delivered.
    var resumePoint: UInt64? {
        guard !isEmpty, let floor else { return nil }
        return max(newest > span ? newest - span : 0, floor)
    }
}
