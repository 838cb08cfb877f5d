/// Why an autoscaling policy was refused.
public typealias AutoscaleError = DomainError<AutoscaleErrorKind>

public enum AutoscaleErrorKind: Sendable, Hashable {
    case invalidPolicy
    /// Reading or removing a policy where there is none.
    case notAutoscaled
}
