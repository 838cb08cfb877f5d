/// One change at a time, in arrival order: a service's API calls, rollout steps, autoscaling
/// decisions, reconcile passes and its deletion never interleave their reads and writes.
///
/// A caller waits its turn even if it is cancelled meanwhile (its body sees the
/// cancellation), so a cancelled waiter can never let two bodies run at once. A body that
/// enters the section again (directly or from a child task) runs at once instead of waiting
/// for itself.
actor ExclusiveSection {
    @TaskLocal private static var held: Set<ObjectIdentifier> = []

    private var busy = false
    private var queue: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let me = ObjectIdentifier(self)
        if Self.held.contains(me) { return try await body() }
        if busy {
            await withCheckedContinuation { queue.append($0) }
        } else {
            busy = true
        }
        defer { handOver() }
        return try await Self.$held.withValue(Self.held.union([me])) { try await body() }
    }

    private func handOver() {
        if queue.isEmpty { busy = false } else { queue.removeFirst().resume() }
    }
}
