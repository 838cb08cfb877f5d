/// A service or release that the request names and the host does not have.
public typealias ServiceError = DomainError<ServiceErrorKind>

public enum ServiceErrorKind: Sendable, Hashable {
    case unknownService
    case unknownRelease
}
