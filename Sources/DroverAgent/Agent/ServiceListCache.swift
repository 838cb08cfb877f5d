import DroverAPI
import Foundation

/// Every service as the API reports it, read once for all the clients that ask at about the
/// same time: `GET /v1/services`, a service's instances and `/metrics` all use it. Under many
/// clients the agent answered each by reading the store and every instance again and encoding
/// the same JSON again; most of its time went there.
///
/// A read is the answer only while nothing it depends on has changed (`StateChanges`: every
/// store commit and every change of an instance moves it), so a client reads its own writes:
/// after a change, callers wait for a new read (one for all of them). While nothing changes, a
/// read older than `maxAge` (but not `staleLimit`) is still served while one new read runs,
/// so that its CPU and memory figures (cgroup readings, themselves up to a second old) stay
/// current without making every caller wait for them.
actor ServiceListCache {
    struct Snapshot: Sendable {
        let services: [ServiceInfo]
        /// `services` as `GET /v1/services` answers them, encoded once.
        let json: Data
        /// The change count the read began at.
        let changes: UInt64
        let at: ContinuousClock.Instant
    }

    private let maxAge: Duration
    /// How old an unchanged read may still be served while it is renewed: beyond it (no one
    /// asked for a while), the caller waits for a new read rather than see old CPU and memory.
    private let staleLimit: Duration
    private var latest: Snapshot?
    private var reading: (changes: UInt64, task: Task<Snapshot, any Error>)?

    init(maxAge: Duration = .milliseconds(250), staleLimit: Duration = .seconds(1)) {
        self.maxAge = maxAge
        self.staleLimit = max(maxAge, staleLimit)
    }

    /// What is kept, if it is the answer at `changes` and younger than `maxAge`.
    func current(at changes: UInt64) -> Snapshot? {
        guard let latest, latest.changes == changes, ContinuousClock.now - latest.at < maxAge else { return nil }
        return latest
    }

    /// The services at `changes` (the count read just now): what is kept if nothing changed
    /// since it was read, else a new read from `read`.
    func snapshot(at changes: UInt64, read: @escaping @Sendable () async throws -> [ServiceInfo]) async throws -> Snapshot {
        if let latest, latest.changes == changes {
            let age = ContinuousClock.now - latest.at
            if age < maxAge { return latest }
            if age < staleLimit {
                if reading?.changes != changes { _ = startReading(at: changes, read) }
                return latest
            }
        }
        if let reading, reading.changes == changes { return try await reading.task.value }
        return try await startReading(at: changes, read).value
    }

    /// A read that is not cancelled with the request that began it (others may wait for it),
    /// and runs off the actor (encoding takes a while).
    private func startReading(at changes: UInt64, _ read: @escaping @Sendable () async throws -> [ServiceInfo]) -> Task<Snapshot, any Error> {
        let task = Task.detached {
            let started = ContinuousClock.now
            do {
                let services = try await read()
                let snapshot = Snapshot(services: services, json: try JSONEncoder.droverAPI.encode(services), changes: changes, at: started)
                await self.keep(snapshot)
                return snapshot
            } catch {
                await self.readFailed(at: changes)
                throw error
            }
        }
        reading = (changes, task)
        return task
    }

    private func keep(_ snapshot: Snapshot) {
        if latest.map({ snapshot.at > $0.at }) ?? true { latest = snapshot }
        if reading?.changes == snapshot.changes { reading = nil }
    }

    private func readFailed(at changes: UInt64) {
        if reading?.changes == changes { reading = nil }
    }
}
