import DroverAPI
import DroverCore
import Foundation
import GRDB

/// Leases: who is changing a service on this host, until when. A lease past its expiry is no
/// lease: whoever asks next takes it, so a holder that died frees the service by itself.
extension StateStore {
    public enum LeaseOutcome: Sendable, Equatable {
        /// Taken or renewed; `broke` is someone else's live lease that `force` replaced.
        case taken(LeaseInfo, broke: LeaseInfo?)
        /// Someone else holds it.
        case held(LeaseInfo)
    }

    /// Takes the lease of `service` for `request`, or renews it when its id is the holder's, in
    /// one transaction, so two takers never both win.
    public func takeLease(_ service: ServiceName, _ request: LeaseRequest, actor: String?, now: Date = Date()) async throws -> LeaseOutcome {
        try await database.write { db in
            let current = try Self.liveLease(db, service, now: now)
            if let current, current.id != request.id, request.force != true { return .held(current) }
            let lease = LeaseInfo(service: service, id: request.id, holder: request.holder, operation: request.operation, message: request.message,
                                  by: actor, since: current?.id == request.id ? current!.since : now,
                                  expiresAt: request.ttlSeconds.map { now.addingTimeInterval(TimeInterval($0)) })
            try db.execute(sql: """
                INSERT INTO leases (service, id, holder, operation, message, actor, since, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(service) DO UPDATE SET id = excluded.id, holder = excluded.holder, operation = excluded.operation,
                    message = excluded.message, actor = excluded.actor, since = excluded.since, expires_at = excluded.expires_at
                """, arguments: [service.rawValue, lease.id, lease.holder, lease.operation, lease.message, lease.by,
                                 StoredTime.text(lease.since), lease.expiresAt.map(StoredTime.text)])
            return .taken(lease, broke: current?.id == request.id ? nil : current)
        }
    }

    /// Releases the lease `id` (any lease with `force`); returns the lease released, nil when
    /// there was none, or throws `held` when it is someone else's.
    public func releaseLease(_ service: ServiceName, id: String?, force: Bool, now: Date = Date()) async throws -> LeaseOutcome? {
        try await database.write { db in
            guard let current = try Self.liveLease(db, service, now: now) else {
                try db.execute(sql: "DELETE FROM leases WHERE service = ?", arguments: [service.rawValue])
                return nil
            }
            guard force || current.id == id else { return .held(current) }
            try db.execute(sql: "DELETE FROM leases WHERE service = ?", arguments: [service.rawValue])
            return .taken(current, broke: nil)
        }
    }

    /// The live lease of `service`, if any.
    public func lease(_ service: ServiceName, now: Date = Date()) async throws -> LeaseInfo? {
        try await database.read { db in try Self.liveLease(db, service, now: now) }
    }

    private static func liveLease(_ db: Database, _ service: ServiceName, now: Date) throws -> LeaseInfo? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM leases WHERE service = ?", arguments: [service.rawValue]) else { return nil }
        let expires: Date? = (row["expires_at"] as DatabaseValue).isNull ? nil : row.time("expires_at")
        if let expires, expires <= now { return nil }
        return LeaseInfo(service: service, id: row["id"], holder: row["holder"], operation: row["operation"], message: row["message"],
                         by: row["actor"], since: row.time("since"), expiresAt: expires)
    }
}
