/// Why a change was refused because of a service's lease.
public typealias LeaseError = DomainError<LeaseErrorKind>

public enum LeaseErrorKind: Sendable, Hashable {
    /// Someone else holds the service's lease.
    case held
    /// Releasing a lease where there is none.
    case notLeased
}
