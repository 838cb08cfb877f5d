/// Why an autoscaling policy was refused.
public struct AutoscaleError: DomainError {
    public enum Kind: Sendable, Hashable {
        case invalidPolicy
        /// Reading or removing a policy where there is none.
        case notAutoscaled
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
