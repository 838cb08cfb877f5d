/// Why a log read or follow was refused.
public typealias LogsError = DomainError<LogsErrorKind>

public enum LogsErrorKind: Sendable, Hashable {
    /// As many follows are open as the agent allows; each holds an open journal.
    case tooManyFollowers
}
