import DroverAPI
import Foundation

/// Every service as the API reports it, computed once for all the clients that ask at about
/// the same time: `GET /v1/services`, a service's instances and `/metrics` all read it. Under
/// many clients the agent answered each by reading the store and every instance again and
/// encoding the same JSON again; most of its time went there.
///
/// An answer is reused only while nothing it depends on has changed (`StateChanges`: every
/// store commit and every change of an instance moves it, so a client reads its own writes)
/// and for at most `maxAge` (the CPU and memory figures in it are readings up to a second old
/// anyway). While it is computed, others who ask wait for it instead of computing it again.
actor ServiceListCache {
    struct Snapshot: Sendable {
        let services: [ServiceInfo]
        let changes: UInt64
        let at: ContinuousClock.Instant
    }

    private let maxAge: Duration
    private var latest: Snapshot?
    private var encoded: (changes: UInt64, at: ContinuousClock.Instant, json: Data)?
    private var computing: (changes: UInt64, task: Task<Snapshot, any Error>)?

    init(maxAge: Duration = .milliseconds(250)) {
        self.maxAge = maxAge
    }

    /// What is kept, if it is still the answer at `changes`.
    func current(at changes: UInt64) -> Snapshot? {
        guard let latest, latest.changes == changes, ContinuousClock.now - latest.at < maxAge else { return nil }
        return latest
    }

    /// The services at `changes` (the count read now), from `compute` if what is kept is older.
    func services(at changes: UInt64, compute: @escaping @Sendable () async throws -> [ServiceInfo]) async throws -> Snapshot {
        if let latest = current(at: changes) { return latest }
        if let computing, computing.changes == changes { return try await computing.task.value }
        // Not cancelled with the request that started it: others may be waiting for it.
        let task = Task {
            let started = ContinuousClock.now
            return Snapshot(services: try await compute(), changes: changes, at: started)
        }
        computing = (changes, task)
        defer { if self.computing?.changes == changes { self.computing = nil } }
        let snapshot = try await task.value
        if latest.map({ snapshot.at > $0.at }) ?? true { latest = snapshot }
        return snapshot
    }

    /// The JSON of `snapshot`, encoded once.
    func json(of snapshot: Snapshot, encode: @Sendable ([ServiceInfo]) throws -> Data) rethrows -> Data {
        if let encoded, encoded.changes == snapshot.changes, encoded.at == snapshot.at { return encoded.json }
        let json = try encode(snapshot.services)
        if encoded.map({ snapshot.at >= $0.at }) ?? true { encoded = (snapshot.changes, snapshot.at, json) }
        return json
    }
}
