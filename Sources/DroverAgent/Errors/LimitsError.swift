/// Why a live resize was refused.
public struct LimitsError: DomainError {
    public enum Kind: Sendable, Hashable {
        case invalidLimits
        /// Removing a resize where there is none.
        case notResized
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
