/// An error of the agent's domain: a kind, which the HTTP layer (and only it) maps to a
/// status and a stable code, and a sentence that says what was wrong and what to do.
/// Callers that must tell errors apart match on the kind, never on text. Each area names
/// its kinds (`ScaleErrorKind`, …) and its error (`ScaleError`) in a file of its own.
public struct DomainError<Kind: Sendable & Hashable>: Error, Sendable, CustomStringConvertible {
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
