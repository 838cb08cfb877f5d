/// A command a release runs once per deploy, after its upload and before any instance is
/// replaced: a database migration, say (Heroku's release phase, Kamal's pre-deploy hook).
/// It runs in the release's own environment, as a one-off run (`OneOffCommand`).
public struct ReleaseCommand: Codable, Sendable, Equatable {
    /// The command and its arguments; the first word is resolved as `OneOffCommand` says.
    public var command: [String]
    /// How long it may run before it is stopped and the deploy fails.
    public var timeoutSeconds: Int
    /// On which hosts: the first host of the deploy only, or every host.
    public var on: Hosts

    public enum Hosts: String, Codable, Sendable {
        case first, every
    }

    public static let defaultTimeoutSeconds = 600

    public init(command: [String], timeoutSeconds: Int = Self.defaultTimeoutSeconds, on: Hosts = .first) {
        self.command = command
        self.timeoutSeconds = timeoutSeconds
        self.on = on
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decode([String].self, forKey: .command)
        timeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .timeoutSeconds) ?? Self.defaultTimeoutSeconds
        on = try c.decodeIfPresent(Hosts.self, forKey: .on) ?? .first
    }

    func validate() throws(SpecError) {
        try OneOffCommand.validate(command, field: "release.command")
        try ServiceSpec.checkRange(timeoutSeconds, OneOffCommand.timeoutRange, field: "release.timeoutSeconds")
    }
}
