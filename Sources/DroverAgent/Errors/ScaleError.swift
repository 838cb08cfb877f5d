/// Why a service's instance count could not be set, or its instances not started.
public typealias ScaleError = DomainError<ScaleErrorKind>

public enum ScaleErrorKind: Sendable, Hashable {
    /// The count is outside 0…`max_instances`.
    case invalidCount
    /// The service has no current release to run.
    case noRelease
    /// A deployment owns the count while it runs.
    case deploymentRunning
    /// systemd did not start some of the instances.
    case instancesFailed
    /// The service's shared socket could not listen.
    case socketFailed
}
