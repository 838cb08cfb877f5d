/// Lets a test have the host's CPU to itself. Suites that boot a test bed run as sharers; a
/// test that measures real CPU use (autoscaling under load, connection abuse, load) runs
/// exclusively: it waits until no sharer runs or waits, so the exclusive ones run after the
/// parallel ones, one at a time. Without this, the other suites running in parallel on a
/// 2-core machine take the CPU a "saturated" instance was meant to get.
///
/// Sharers go first because Swift Testing's time limits count the wait: a sharer waits at
/// most for the one exclusive test under way (a sharer that queued behind every waiting
/// exclusive suite once missed its 3-minute limit), and exclusive suites carry limits that
/// cover the whole parallel phase.
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
        if exclusive {
            await withCheckedContinuation { waitingSharers.append($0) }
        } else {
            sharers += 1
        }
    }

    private func releaseShared() {
        sharers -= 1
        startNextExclusive()
    }

    private func acquireExclusive() async {
        if exclusive || sharers > 0 || !waitingSharers.isEmpty {
            await withCheckedContinuation { waitingExclusive.append($0) }
        } else {
            exclusive = true
        }
    }

    private func releaseExclusive() {
        exclusive = false
        if !waitingSharers.isEmpty {
            sharers += waitingSharers.count
            for sharer in waitingSharers { sharer.resume() }
            waitingSharers.removeAll()
            return
        }
        startNextExclusive()
    }

    /// With no sharer running or waiting, the next exclusive user starts.
    private func startNextExclusive() {
        guard !exclusive, sharers == 0, waitingSharers.isEmpty, !waitingExclusive.isEmpty else { return }
        exclusive = true
        waitingExclusive.removeFirst().resume()
    }
}
