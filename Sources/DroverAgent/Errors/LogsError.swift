/// Why a log read or follow was refused.
public struct LogsError: DomainError {
    public enum Kind: Sendable, Hashable {
        /// As many follows are open as the agent allows; each holds an open journal.
        case tooManyFollowers
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
