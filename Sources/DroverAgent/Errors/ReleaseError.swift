/// Why an artifact was refused. Each kind is one thing the uploader did wrong, with a
/// sentence saying what; the HTTP layer maps the kind to a status and a code.
public struct ReleaseError: DomainError {
    public enum Kind: Sendable, Hashable {
        // The request is malformed.
        case missingDigest
        case invalidDigest
        case invalidSpec
        /// The body ended before its announced length.
        case truncated
        // Larger than the configured limits.
        case tooLarge
        case tooManyEntries
        // Well-formed but unacceptable content.
        case digestMismatch
        case invalidTarball
        /// A path that leaves the release directory, a link outside it, a device file, …
        case unsafeTarball
        case unpackFailed
        case binaryMissing
        case binaryNotExecutable
        // The version exists with other content: a release never changes.
        case versionConflict
        case specConflict
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
