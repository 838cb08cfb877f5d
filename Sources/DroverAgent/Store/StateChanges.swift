import GRDB
import Synchronization

/// A count of changes to what the API reports: every commit to the store and every change
/// systemd signals of an instance moves it. An answer computed at one count is still the
/// answer while the count stays (see `ServiceListCache`).
final class StateChanges: Sendable {
    private let count = Atomic<UInt64>(0)

    var current: UInt64 { count.load(ordering: .acquiring) }

    func note() { count.add(1, ordering: .releasing) }
}

/// Moves `changes` at each commit of the store that wrote something.
final class StoreCommitObserver: TransactionObserver, Sendable {
    private let changes: StateChanges

    init(_ changes: StateChanges) { self.changes = changes }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { changes.note() }
    func databaseDidRollback(_ db: Database) {}
}
