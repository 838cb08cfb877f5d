/// Lets a test have the host's CPU to itself. Suites that boot a test bed run as sharers; a
/// test that measures real CPU use (autoscaling under load) runs exclusively: it waits for
/// the running suites to finish, and suites that start meanwhile wait for it. Without this,
/// the other suites running in parallel on a 2-core machine take the CPU a "saturated"
/// instance was meant to get.
///
/// Exclusive users waiting go first, one after the other, which also brakes the burst of
/// suites starting at once (letting sharers go first instead overloaded 2 cores: readiness
/// deadlines were missed). Swift Testing's time limits count the wait, so suites that share
/// carry limits (10 minutes) that cover the exclusive ones ahead of them.
public actor HostCPUGate {
    public static let shared = HostCPUGate()

    private var sharers = 0
    private var exclusive = false
    private var waitingExclusive: [CheckedContinuation<Void, Never>] = []
    private var waitingSharers: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` alongside other sharers, but never alongside an exclusive user.
    public nonisolated func sharing<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await holding(exclusive: false, body)
    }

    /// Runs `body` with no sharer running.
    public nonisolated func exclusively<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await holding(exclusive: true, body)
    }

    private nonisolated func holding<T: Sendable>(exclusive: Bool, _ body: @Sendable () async throws -> T) async throws -> T {
        if exclusive { await acquireExclusive() } else { await acquireShared() }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        if exclusive { await releaseExclusive() } else { await releaseShared() }
        return try result.get()
    }

    private func acquireShared() async {
        // Exclusive users waiting go first, so they are not held back forever.
        if exclusive || !waitingExclusive.isEmpty {
            await withCheckedContinuation { waitingSharers.append($0) }
        } else {
            sharers += 1
        }
    }

    private func releaseShared() {
        sharers -= 1
        if sharers == 0, !waitingExclusive.isEmpty {
            exclusive = true
            waitingExclusive.removeFirst().resume()
        }
    }

    private func acquireExclusive() async {
        if exclusive || sharers > 0 {
            await withCheckedContinuation { waitingExclusive.append($0) }
        } else {
            exclusive = true
        }
    }

    private func releaseExclusive() {
        if !waitingExclusive.isEmpty {
            waitingExclusive.removeFirst().resume()
            return
        }
        exclusive = false
        sharers += waitingSharers.count
        for sharer in waitingSharers { sharer.resume() }
        waitingSharers.removeAll()
    }
}
