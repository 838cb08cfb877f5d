import DroverCore
import Foundation

/// How carefully to replace instances. Every field has a default.
public struct DeploymentStrategy: Codable, Sendable, Equatable {
    public var maxSurge: Int
    public var maxUnavailable: Int
    public var minHealthySeconds: Double
    public var deadlineSeconds: Double
    /// Roll back to the previous release when the new one fails (default on).
    public var autoRevert: Bool
    /// Start this many instances of the new release beside the full old count first, and wait
    /// in the `canary` state for a promotion (or an abort) before replacing anything. Ignored
    /// when nothing runs yet. Cleared when the canary is promoted.
    public var canary: Int?
    /// Promote a canary by itself once it has been healthy this long.
    public var autoPromoteSeconds: Double?

    public init(maxSurge: Int = 1, maxUnavailable: Int = 0, minHealthySeconds: Double = 1, deadlineSeconds: Double = 60, autoRevert: Bool = true,
                canary: Int? = nil, autoPromoteSeconds: Double? = nil) {
        self.maxSurge = maxSurge
        self.maxUnavailable = maxUnavailable
        self.minHealthySeconds = minHealthySeconds
        self.deadlineSeconds = deadlineSeconds
        self.autoRevert = autoRevert
        self.canary = canary
        self.autoPromoteSeconds = autoPromoteSeconds
    }

    /// The range of each field, checked where a strategy is decoded (the deadline must also
    /// exceed `minHealthySeconds`, checked with the rest of the rollout target).
    public static let surgeRange = 0...Bounds.instances.upperBound
    public static let minHealthySecondsRange: ClosedRange<Double> = 0...3_600
    public static let deadlineSecondsRange: ClosedRange<Double> = 0.1...86_400
    public static let canaryRange = 1...Bounds.instances.upperBound
    /// Up to a week.
    public static let autoPromoteSecondsRange: ClosedRange<Double> = 1...604_800

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DeploymentStrategy()
        maxSurge = try c.decodeIfPresent(Int.self, forKey: .maxSurge, in: Self.surgeRange) ?? d.maxSurge
        maxUnavailable = try c.decodeIfPresent(Int.self, forKey: .maxUnavailable, in: Self.surgeRange) ?? d.maxUnavailable
        minHealthySeconds = try c.decodeIfPresent(Double.self, forKey: .minHealthySeconds, in: Self.minHealthySecondsRange) ?? d.minHealthySeconds
        deadlineSeconds = try c.decodeIfPresent(Double.self, forKey: .deadlineSeconds, in: Self.deadlineSecondsRange) ?? d.deadlineSeconds
        autoRevert = try c.decodeIfPresent(Bool.self, forKey: .autoRevert) ?? d.autoRevert
        canary = try c.decodeIfPresent(Int.self, forKey: .canary, in: Self.canaryRange)
        autoPromoteSeconds = try c.decodeIfPresent(Double.self, forKey: .autoPromoteSeconds, in: Self.autoPromoteSecondsRange)
    }
}

/// `POST /v1/services/{svc}/deployments`.
public struct DeploymentRequest: Codable, Sendable, Equatable {
    public var version: ReleaseVersion
    /// Instances wanted at the end; default: the service's current count (at least 1).
    public var instances: Int?
    public var strategy: DeploymentStrategy?
    /// Replace a deployment of the service that is still running, instead of a 409.
    public var supersede: Bool?

    public init(version: ReleaseVersion, instances: Int? = nil, strategy: DeploymentStrategy? = nil, supersede: Bool? = nil) {
        self.version = version
        self.instances = instances
        self.strategy = strategy
        self.supersede = supersede
    }
}

/// `POST /v1/services/{svc}/rollback`.
public struct RollbackRequest: Codable, Sendable, Equatable {
    /// The retained release to go back to; default: the one before the current.
    public var to: ReleaseVersion?
    /// How carefully; default: as for any deployment.
    public var strategy: DeploymentStrategy?
    public init(to: ReleaseVersion? = nil, strategy: DeploymentStrategy? = nil) {
        self.to = to
        self.strategy = strategy
    }
}

/// Where a deployment stands. In JSON, its name.
public enum DeploymentState: String, Codable, Sendable, CaseIterable {
    /// Replacing instances with the target release.
    case running
    /// The target failed; going back to the release it replaced.
    case reverting
    case succeeded
    /// The target failed (and was reverted, or could not even be).
    case failed
    /// A newer deployment of the service took over.
    case superseded
    /// Canaries of the target run beside the whole old release, taking their share of the
    /// traffic; waiting to be promoted (the rollout goes on) or aborted.
    case canary
    /// The canaries were stopped (asked to, or one failed); the old release runs untouched.
    case aborted

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .superseded || self == .aborted }
}

/// A deployment and where it stands.
public struct DeploymentInfo: Codable, Sendable, Equatable {
    public var id: String
    public var service: ServiceName
    public var fromVersion: ReleaseVersion?
    public var toVersion: ReleaseVersion
    public var instances: Int
    public var strategy: DeploymentStrategy
    public var state: DeploymentState
    public var reason: String?
    public var createdAt: Date
    public var updatedAt: Date

    public var isFinished: Bool { state.isFinished }

    public init(id: String, service: ServiceName, fromVersion: ReleaseVersion?, toVersion: ReleaseVersion, instances: Int,
                strategy: DeploymentStrategy, state: DeploymentState, reason: String?, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.service = service
        self.fromVersion = fromVersion
        self.toVersion = toVersion
        self.instances = instances
        self.strategy = strategy
        self.state = state
        self.reason = reason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
