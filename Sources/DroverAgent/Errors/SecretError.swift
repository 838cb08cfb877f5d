/// Why a release's secrets were refused or could not be kept. The HTTP layer maps each kind
/// to a status; no message ever holds a secret's value.
public typealias SecretError = DomainError<SecretErrorKind>

public enum SecretErrorKind: Sendable, Hashable {
    /// The `Drover-Secrets` header does not read.
    case invalidHeader
    /// The spec names a secret whose value was not sent (and is not kept from before).
    case missing
    /// A value was sent for a secret the spec does not name.
    case unexpected
    /// A value's digest is not the one the spec names.
    case digestMismatch
    case tooLarge
    /// Sent over plain HTTP from another host: the value crossed the network in clear text.
    case insecureTransport
    case encryptionUnavailable
    case encryptionFailed
}
