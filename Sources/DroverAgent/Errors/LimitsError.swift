/// Why a live resize was refused.
public typealias LimitsError = DomainError<LimitsErrorKind>

public enum LimitsErrorKind: Sendable, Hashable {
    case invalidLimits
    /// Removing a resize where there is none.
    case notResized
}
