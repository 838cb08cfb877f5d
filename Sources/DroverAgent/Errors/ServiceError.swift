/// A service or release that the request names and the host does not have.
public struct ServiceError: DomainError {
    public enum Kind: Sendable, Hashable {
        case unknownService
        case unknownRelease
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
