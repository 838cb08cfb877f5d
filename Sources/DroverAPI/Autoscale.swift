import DroverCore
import Foundation

/// `GET /v1/services/{svc}/autoscale`: the policy (nil when autoscaling is off), whether the
/// loop is paused, and its latest decisions, newest last.
public struct AutoscaleInfo: Codable, Sendable, Equatable {
    public var service: ServiceName
    public var policy: AutoscalePolicy?
    /// Why the autoscaler is not acting right now (a deployment runs), if it is not.
    public var paused: String?
    public var decisions: [AutoscaleDecisionInfo]

    public init(service: ServiceName, policy: AutoscalePolicy?, paused: String?, decisions: [AutoscaleDecisionInfo]) {
        self.service = service
        self.policy = policy
        self.paused = paused
        self.decisions = decisions
    }
}

/// One interval of the autoscaler: what it read, what it concluded, what it did.
public struct AutoscaleDecisionInfo: Codable, Sendable, Equatable {
    public var time: Date
    /// `scaled`, `held`, `paused` or `failed`.
    public var action: String
    public var current: Int
    public var desired: Int
    /// What the load alone asked for, before windows, steps and bounds.
    public var recommendation: Int
    public var reason: String
    public var samples: [AutoscaleSampleInfo]

    public init(time: Date, action: String, current: Int, desired: Int, recommendation: Int, reason: String, samples: [AutoscaleSampleInfo]) {
        self.time = time
        self.action = action
        self.current = current
        self.desired = desired
        self.recommendation = recommendation
        self.reason = reason
        self.samples = samples
    }
}

/// One instance's reading in a decision.
public struct AutoscaleSampleInfo: Codable, Sendable, Equatable {
    public var slot: Int
    public var ready: Bool
    public var cpuCores: Double?
    public var memoryBytes: UInt64?

    public init(slot: Int, ready: Bool, cpuCores: Double?, memoryBytes: UInt64?) {
        self.slot = slot
        self.ready = ready
        self.cpuCores = cpuCores
        self.memoryBytes = memoryBytes
    }
}

/// `GET/PUT /v1/services/{svc}/limits`: the live resize in force (nil: none) and the instances
/// with the limits they now run with.
public struct InstanceLimitsInfo: Codable, Sendable, Equatable {
    public var service: ServiceName
    public var limits: InstanceLimits?
    public var instances: [InstanceInfo]

    public init(service: ServiceName, limits: InstanceLimits?, instances: [InstanceInfo]) {
        self.service = service
        self.limits = limits
        self.instances = instances
    }
}
