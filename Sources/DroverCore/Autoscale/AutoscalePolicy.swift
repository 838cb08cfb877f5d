/// How a service's instance count follows its load (one policy per service).
///
/// Targets are per instance: `cpu` in cores (0.5 = half a CPU), `memoryBytes` in bytes. The
/// count follows `desired = ceil(current × observed / target)`, ignored within `tolerance`,
/// raised at once (after `scaleUpStabilization`) and lowered only when every recommendation
/// of the last `scaleDownStabilization` was lower: no flapping.
///
/// In JSON, durations are seconds (`intervalSeconds`, …) and every field but `min`, `max` and
/// one target may be left out for its default.
public struct AutoscalePolicy: Codable, Sendable, Equatable {
    public var min: Int
    public var max: Int
    public var cpu: Double?
    public var memoryBytes: UInt64?
    public var interval: Duration
    public var tolerance: Double
    public var scaleUpStabilization: Duration
    public var scaleDownStabilization: Duration
    /// Most instances added at once; nil: double, or +4, whichever is larger.
    public var maxStepUp: Int?
    /// Most instances removed at once; nil: no limit.
    public var maxStepDown: Int?

    public init(min: Int, max: Int, cpu: Double? = nil, memoryBytes: UInt64? = nil, interval: Duration = .seconds(5),
                tolerance: Double = 0.1, scaleUpStabilization: Duration = .zero, scaleDownStabilization: Duration = .seconds(60),
                maxStepUp: Int? = nil, maxStepDown: Int? = nil) {
        self.min = min
        self.max = max
        self.cpu = cpu
        self.memoryBytes = memoryBytes
        self.interval = interval
        self.tolerance = tolerance
        self.scaleUpStabilization = scaleUpStabilization
        self.scaleDownStabilization = scaleDownStabilization
        self.maxStepUp = maxStepUp
        self.maxStepDown = maxStepDown
    }

    /// The range of each field, checked where a policy is decoded and again by `validate`.
    public static let countRange = 1...Bounds.instances.upperBound
    public static let toleranceRange: ClosedRange<Double> = 0...0.99
    public static let intervalSecondsRange: ClosedRange<Double> = 0.1...3_600

    /// Checks the policy against the host's `max_instances` and the ranges of its fields (a
    /// policy made in code, or read back from the store, gets the same checks as one decoded).
    public func validate(maxInstances: Int) throws(SpecError) {
        guard min >= 1, min <= max, max <= maxInstances else {
            throw SpecError(field: "autoscale", problem: "needs 1 ≤ min ≤ max ≤ \(maxInstances) (max_instances), not min \(min), max \(max)"
                            + (min < 1 ? "; with no instance there is no load to measure, so min is at least 1" : ""))
        }
        guard cpu != nil || memoryBytes != nil else {
            throw SpecError(field: "autoscale", problem: "needs a cpu or a memory target (or both)")
        }
        if let cpu, !Bounds.cpuCores.contains(cpu) {
            throw SpecError(field: "autoscale.cpu", problem: "must be between \(Bounds.cpuCores.lowerBound) and \(Bounds.cpuCores.upperBound) cores, not \(cpu)")
        }
        try ServiceSpec.checkMemoryBytes(memoryBytes, field: "autoscale.memoryBytes")
        guard Self.intervalSecondsRange.contains(interval.seconds), Self.toleranceRange.contains(tolerance) else {
            throw SpecError(field: "autoscale", problem: "interval must be 0.1 to 3600 s and tolerance 0 to 0.99")
        }
        guard Bounds.seconds.contains(scaleUpStabilization.seconds), Bounds.seconds.contains(scaleDownStabilization.seconds),
              Bounds.step.contains(maxStepUp ?? 1), Bounds.step.contains(maxStepDown ?? 1) else {
            throw SpecError(field: "autoscale", problem: "stabilization windows must be 0 to 86400 s and steps 1 to \(Bounds.step.upperBound)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case min, max, cpu, memoryBytes, tolerance, maxStepUp, maxStepDown
        case intervalSeconds, scaleUpStabilizationSeconds, scaleDownStabilizationSeconds
    }

    /// Every number is range-checked here, so no policy that decodes can make the
    /// autoscaler's arithmetic overflow.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func seconds(_ key: CodingKeys, in range: ClosedRange<Double>) throws -> Duration? {
            try c.decodeIfPresent(Double.self, forKey: key, in: range).map(Duration.seconds(clamping:))
        }
        let defaults = AutoscalePolicy(min: 1, max: 1)
        self.init(
            min: try c.decode(Int.self, forKey: .min, in: Self.countRange),
            max: try c.decode(Int.self, forKey: .max, in: Self.countRange),
            cpu: try c.decodeIfPresent(Double.self, forKey: .cpu, in: Bounds.cpuCores),
            memoryBytes: try c.decodeIfPresent(UInt64.self, forKey: .memoryBytes, in: Bounds.memoryBytes),
            interval: try seconds(.intervalSeconds, in: Self.intervalSecondsRange) ?? defaults.interval,
            tolerance: try c.decodeIfPresent(Double.self, forKey: .tolerance, in: Self.toleranceRange) ?? defaults.tolerance,
            scaleUpStabilization: try seconds(.scaleUpStabilizationSeconds, in: Bounds.seconds) ?? defaults.scaleUpStabilization,
            scaleDownStabilization: try seconds(.scaleDownStabilizationSeconds, in: Bounds.seconds) ?? defaults.scaleDownStabilization,
            maxStepUp: try c.decodeIfPresent(Int.self, forKey: .maxStepUp, in: Bounds.step),
            maxStepDown: try c.decodeIfPresent(Int.self, forKey: .maxStepDown, in: Bounds.step)
        )
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(min, forKey: .min)
        try c.encode(max, forKey: .max)
        try c.encodeIfPresent(cpu, forKey: .cpu)
        try c.encodeIfPresent(memoryBytes, forKey: .memoryBytes)
        try c.encode(interval.seconds, forKey: .intervalSeconds)
        try c.encode(tolerance, forKey: .tolerance)
        try c.encode(scaleUpStabilization.seconds, forKey: .scaleUpStabilizationSeconds)
        try c.encode(scaleDownStabilization.seconds, forKey: .scaleDownStabilizationSeconds)
        try c.encodeIfPresent(maxStepUp, forKey: .maxStepUp)
        try c.encodeIfPresent(maxStepDown, forKey: .maxStepDown)
    }
}
