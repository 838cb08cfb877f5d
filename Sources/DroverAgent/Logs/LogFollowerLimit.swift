import Synchronization

/// How many log follows may be open at once. Each holds an open journal and its inotify
/// watches, so a client that opens follows in a loop gets a clear refusal instead of
/// exhausting the agent's descriptors.
final class LogFollowerLimit: Sendable {
    let maximum: Int
    private let open = Atomic<Int>(0)

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Takes a place; false when all are taken.
    func claim() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < maximum {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() {
        open.subtract(1, ordering: .relaxed)
    }
}
