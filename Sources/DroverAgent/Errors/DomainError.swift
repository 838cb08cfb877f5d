/// An error of the agent's domain: a kind, which the HTTP layer (and only it) maps to a
/// status and a stable code, and a sentence that says what was wrong and what to do.
/// Callers that must tell errors apart match on the kind, never on text.
protocol DomainError: Error, Sendable, CustomStringConvertible {
    associatedtype Kind: Sendable & Hashable
    var kind: Kind { get }
    var message: String { get }
}

extension DomainError {
    public var description: String { message }
}
