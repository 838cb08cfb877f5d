import DroverCore
import Foundation

/// `POST /v1/services/{svc}/runs`: run a command once in a release's environment (its files,
/// environment, secrets, limits and sandbox), as a unit of its own. Either `command`
/// (`drover exec`), or `releaseCommand` to run the release's own `release.command` (a deploy's
/// release phase).
public struct RunRequest: Codable, Sendable, Equatable {
    public var command: [String]?
    /// Run the spec's `release.command` instead; skipped when it already succeeded for this
    /// release on this host (unless `force`).
    public var releaseCommand: Bool?
    /// The release to run in; default: the service's current release.
    public var version: ReleaseVersion?
    /// How long it may run (1 s to a day); default the release command's, else 3600.
    public var timeoutSeconds: Int?
    /// Run the release command again even though it succeeded before.
    public var force: Bool?

    public init(command: [String]? = nil, releaseCommand: Bool? = nil, version: ReleaseVersion? = nil, timeoutSeconds: Int? = nil, force: Bool? = nil) {
        self.command = command
        self.releaseCommand = releaseCommand
        self.version = version
        self.timeoutSeconds = timeoutSeconds
        self.force = force
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decodeIfPresent([String].self, forKey: .command)
        releaseCommand = try c.decodeIfPresent(Bool.self, forKey: .releaseCommand)
        version = try c.decodeIfPresent(ReleaseVersion.self, forKey: .version)
        timeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .timeoutSeconds)
        if let timeoutSeconds, !OneOffCommand.timeoutRange.contains(timeoutSeconds) {
            throw DecodingError.dataCorruptedError(forKey: .timeoutSeconds, in: c, debugDescription: "timeoutSeconds must be from 1 to 86400")
        }
        force = try c.decodeIfPresent(Bool.self, forKey: .force)
    }

    /// The default time limit of `drover exec`.
    public static let defaultTimeoutSeconds = 3_600
}

/// One line of a run's NDJSON answer: `started`, then `output` as it comes, then `finished`
/// (or `skipped`, alone, when a release command already ran).
public struct RunUpdate: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case started, output, finished, skipped
    }
    public var kind: Kind
    /// `started`: the run's id. `finished`, `skipped`: the same.
    public var id: String?
    /// `started`: the unit it runs as, and the release.
    public var unit: String?
    public var version: ReleaseVersion?
    /// `output`: what the command wrote (stdout and stderr together), as it came.
    public var text: String?
    /// `finished`: its exit status (when it exited), the signal (when killed), and systemd's
    /// result: `success`, `exit-code`, `signal`, `timeout`, `resources`…
    public var exitStatus: Int32?
    public var signal: String?
    public var result: String?
    /// `finished`, `skipped`: in words.
    public var message: String?

    public init(kind: Kind, id: String? = nil, unit: String? = nil, version: ReleaseVersion? = nil, text: String? = nil,
                exitStatus: Int32? = nil, signal: String? = nil, result: String? = nil, message: String? = nil) {
        self.kind = kind
        self.id = id
        self.unit = unit
        self.version = version
        self.text = text
        self.exitStatus = exitStatus
        self.signal = signal
        self.result = result
        self.message = message
    }

    /// Whether a `finished` run succeeded.
    public var succeeded: Bool { kind == .skipped || (kind == .finished && result == "success" && exitStatus == 0) }
}
