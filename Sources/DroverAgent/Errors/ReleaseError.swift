/// Why an artifact was refused. Each kind is one thing the uploader did wrong, with a
/// sentence saying what; the HTTP layer maps the kind to a status and a code.
public typealias ReleaseError = DomainError<ReleaseErrorKind>

public enum ReleaseErrorKind: Sendable, Hashable {
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
    /// Its unit scores above the agent's `max_exposure`, and the spec does not accept it.
    case exposureTooHigh
}
