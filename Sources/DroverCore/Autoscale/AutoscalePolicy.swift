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

    public func validate(maxInstances: Int) throws(SpecError) {
        guard min >= 1, min <= max, max <= maxInstances else {
            throw SpecError(field: "autoscale", problem: "needs 1 ≤ min ≤ max ≤ \(maxInstances) (max_instances), not min \(min), max \(max)"
                            + (min < 1 ? "; with no instance there is no load to measure, so min is at least 1" : ""))
        }
        guard cpu != nil || memoryBytes != nil else {
            throw SpecError(field: "autoscale", problem: "needs a cpu or a memory target (or both)")
        }
        if let cpu, !(cpu > 0) { throw SpecError(field: "autoscale.cpu", problem: "must be more than 0 cores") }
        try ServiceSpec.checkMemoryBytes(memoryBytes, field: "autoscale.memoryBytes")
        guard interval >= .milliseconds(100), (0.0..<1.0).contains(tolerance) else {
            throw SpecError(field: "autoscale", problem: "interval must be at least 0.1 s and tolerance in [0, 1)")
        }
        guard scaleUpStabilization >= .zero, scaleDownStabilization >= .zero, (maxStepUp ?? 1) >= 1, (maxStepDown ?? 1) >= 1 else {
            throw SpecError(field: "autoscale", problem: "stabilization windows cannot be negative and steps must be at least 1")
        }
    }

    enum CodingKeys: String, CodingKey {
        case min, max, cpu, memoryBytes, tolerance, maxStepUp, maxStepDown
        case intervalSeconds, scaleUpStabilizationSeconds, scaleDownStabilizationSeconds
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func seconds(_ key: CodingKeys) throws -> Duration? {
            try c.decodeIfPresent(Double.self, forKey: key).map { .milliseconds(Int64(($0 * 1000).rounded())) }
        }
        let defaults = AutoscalePolicy(min: 1, max: 1)
        self.init(
            min: try c.decode(Int.self, forKey: .min), max: try c.decode(Int.self, forKey: .max),
            cpu: try c.decodeIfPresent(Double.self, forKey: .cpu), memoryBytes: try c.decodeIfPresent(UInt64.self, forKey: .memoryBytes),
            interval: try seconds(.intervalSeconds) ?? defaults.interval,
            tolerance: try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? defaults.tolerance,
            scaleUpStabilization: try seconds(.scaleUpStabilizationSeconds) ?? defaults.scaleUpStabilization,
            scaleDownStabilization: try seconds(.scaleDownStabilizationSeconds) ?? defaults.scaleDownStabilization,
            maxStepUp: try c.decodeIfPresent(Int.self, forKey: .maxStepUp), maxStepDown: try c.decodeIfPresent(Int.self, forKey: .maxStepDown)
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

extension Duration {
    /// The duration in seconds, as a `Double` (for JSON and messages).
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
