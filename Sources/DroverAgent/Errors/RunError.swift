/// Why a one-off run was refused before it started.
public typealias RunError = DomainError<RunErrorKind>

public enum RunErrorKind: Sendable, Hashable {
    /// No command, or one that cannot be a command line.
    case invalidCommand
    /// The service has no current release to run in.
    case noRelease
    /// `releaseCommand` asked of a release whose spec has none.
    case noReleaseCommand
}
