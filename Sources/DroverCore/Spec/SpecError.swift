/// Why a service spec was refused: which field, and what is wrong with it.
public struct SpecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The field, as a path: `environment.API_KEY`, `arguments[2]`, `sandbox.ProtectHome`.
    public let field: String
    public let problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "\(field): \(problem)" }
}
