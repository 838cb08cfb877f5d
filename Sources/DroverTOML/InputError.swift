/// A mistake in a manifest or the inventory: which file, which line, which key, and what is
/// wrong, in the form editors and CI logs link to (`deploy/web.toml:7: …`). Exit code 2.
public struct InputError: Error, Equatable, Sendable, CustomStringConvertible {
    public let file: String
    /// 1-based; nil when the mistake is the file as a whole (missing, unreadable).
    public let line: Int?
    /// The dotted key (`rollout.max_surge`), when the mistake is one key.
    public let key: String?
    public let problem: String

    public init(file: String, line: Int?, key: String?, problem: String) {
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
    }

    public var description: String {
        file + (line.map { ":\($0)" } ?? "") + ": " + problem
    }
}
