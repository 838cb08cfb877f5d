/// How a service's instance count follows its load (one policy per service).
///
/// Targets are per instance: `cpu` in cores (0.5 = half a CPU), `memoryBytes` in bytes. The
/// count follows `desired = ceil(current × observed / target)`, ignored within `tolerance`,
/// raised at once (after `scaleUpStabilization`) and lowered only when every recommendation
/// of the last `scaleDownStabilization` was lower: no flapping.
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
        guard min >= 0, min <= max, max <= maxInstances else {
            throw SpecError(field: "autoscale", problem: "needs 0 ≤ min ≤ max ≤ \(maxInstances), not min \(min), max \(max)")
        }
        guard cpu != nil || memoryBytes != nil else {
            throw SpecError(field: "autoscale", problem: "needs a cpu or a memory target (or both)")
        }
        if let cpu, !(cpu > 0) { throw SpecError(field: "autoscale.cpu", problem: "must be more than 0 cores") }
        if let memoryBytes, memoryBytes < 1 << 20 { throw SpecError(field: "autoscale.memoryBytes", problem: "must be at least 1 MiB") }
        guard interval >= .milliseconds(100), (0.0..<1.0).contains(tolerance) else {
            throw SpecError(field: "autoscale", problem: "interval must be at least 0.1 s and tolerance in [0, 1)")
        }
        guard scaleUpStabilization >= .zero, scaleDownStabilization >= .zero, (maxStepUp ?? 1) >= 1, (maxStepDown ?? 1) >= 1 else {
            throw SpecError(field: "autoscale", problem: "stabilization windows cannot be negative and steps must be at least 1")
        }
    }
}
