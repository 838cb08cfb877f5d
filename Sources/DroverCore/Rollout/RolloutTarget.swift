/// What a rollout must reach, and how carefully.
public struct RolloutTarget: Sendable, Equatable, Codable {
    public var version: ReleaseVersion
    /// Instances of `version` wanted at the end.
    public var count: Int
    /// How many instances may run above `count` while replacing (extra capacity).
    public var maxSurge: Int
    /// How many below `count` may be out of service while replacing.
    public var maxUnavailable: Int
    /// How long a new instance must stay healthy before it counts as serving.
    public var minHealthy: Duration
    /// How long a new instance has, from its start, to become healthy for `minHealthy`.
    public var deadline: Duration

    public init(version: ReleaseVersion, count: Int, maxSurge: Int = 1, maxUnavailable: Int = 0,
                minHealthy: Duration = .seconds(1), deadline: Duration = .seconds(60)) {
        self.version = version
        self.count = count
        self.maxSurge = maxSurge
        self.maxUnavailable = maxUnavailable
        self.minHealthy = minHealthy
        self.deadline = deadline
    }

    /// Refuses targets that could never finish (no surge and no unavailability allowed).
    public func validate(maxInstances: Int) throws(SpecError) {
        guard (0...maxInstances).contains(count) else {
            throw SpecError(field: "instances", problem: "must be between 0 and \(maxInstances), not \(count)")
        }
        guard Bounds.instances.contains(maxSurge), Bounds.instances.contains(maxUnavailable) else {
            throw SpecError(field: "strategy", problem: "maxSurge and maxUnavailable must be between 0 and \(Bounds.instances.upperBound)")
        }
        guard maxSurge > 0 || maxUnavailable > 0 else {
            throw SpecError(field: "strategy", problem: "maxSurge or maxUnavailable must be at least 1, or no instance could ever be replaced")
        }
        guard minHealthy >= .zero, deadline > minHealthy else {
            throw SpecError(field: "strategy", problem: "deadline must be longer than minHealthy")
        }
    }
}
