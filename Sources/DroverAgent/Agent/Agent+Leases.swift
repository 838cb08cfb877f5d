import DroverAPI
import DroverCore
import Foundation

/// The service leases: one operator at a time changes a service (`drover lock`, and every
/// deploy, rollback, promotion and scale of the CLI).
extension Agent {
    public func takeLease(_ service: ServiceName, _ request: LeaseRequest) async throws -> LeaseInfo {
        switch try await context.store.takeLease(service, request, actor: RequestOrigin.current?.token) {
        case .held(let lease):
            throw LeaseError(.held, lease.sentence + Self.advice(lease))
        case .taken(let lease, let broke):
            if let broke {
                try await context.store.record("lease.broken", service: service,
                                               "the lease of \(broke.holder) (\(broke.operation)" + (broke.message.map { ": \($0)" } ?? "") + ") was broken by \(lease.holder)")
            }
            if lease.operation == "lock", broke != nil || lease.expiresAt == nil {
                try await context.store.record("service.locked", service: service, "\(service) locked by \(lease.holder)" + (lease.message.map { ": \($0)" } ?? ""))
            }
            return lease
        }
    }

    public func releaseLease(_ service: ServiceName, id: String?, force: Bool) async throws {
        switch try await context.store.releaseLease(service, id: id, force: force) {
        case nil:
            throw LeaseError(.notLeased, "\(service) has no lease on this host")
        case .held(let lease)?:
            throw LeaseError(.held, lease.sentence + "; only its holder releases it (or --force)")
        case .taken(let lease, _)?:
            if lease.operation == "lock" || lease.id != id {
                try await context.store.record(lease.id == id ? "service.unlocked" : "lease.broken", service: service,
                                               lease.id == id ? "\(service) unlocked by \(lease.holder)" : "the lease of \(lease.holder) (\(lease.operation)) was released by force")
            }
        }
    }

    public func lease(of service: ServiceName) async throws -> LeaseInfo {
        guard let lease = try await context.store.lease(service) else {
            throw LeaseError(.notLeased, "\(service) has no lease on this host")
        }
        return lease
    }

    /// What to do about someone else's lease.
    static func advice(_ lease: LeaseInfo) -> String {
        lease.expiresAt == nil
            ? "; it holds until its holder runs drover unlock \(lease.service) (drover unlock \(lease.service) --force breaks it)"
            : "; wait for it to end (it lapses by itself if its holder is gone; drover unlock \(lease.service) --force breaks it now)"
    }

    /// Refuses a change of `service` made without the id of the lease someone holds on it.
    func checkLease(_ service: ServiceName, id: String?) async throws {
        guard let lease = try await context.store.lease(service), lease.id != id else { return }
        throw LeaseError(.held, lease.sentence + Self.advice(lease))
    }
}
