/// Why an artifact was refused. Each case is one thing the uploader did wrong, with a
/// sentence saying what; the HTTP layer maps the kind to a status.
public struct ReleaseError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Bad request: missing or malformed header, unusable spec.
        case invalid
        /// Larger than the configured limit.
        case tooLarge
        /// Well-formed but unacceptable content (digest mismatch, unsafe tarball, no binary).
        case unprocessable
        /// The same version exists with other content.
        case conflict
    }

    public let kind: Kind
    public let code: String
    public let message: String

    public init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
