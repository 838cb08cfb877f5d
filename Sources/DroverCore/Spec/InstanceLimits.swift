/// CPU and memory limits of each instance set live, over what the releases' specs say: a
/// vertical resize without a restart or a new release. A limit left nil keeps the spec's.
public struct InstanceLimits: Codable, Sendable, Equatable {
    /// `CPUQuota=` in percent of one CPU (150 = one and a half).
    public var cpuPercent: Int?
    /// `MemoryMax=` in bytes.
    public var memoryBytes: UInt64?

    public init(cpuPercent: Int? = nil, memoryBytes: UInt64? = nil) {
        self.cpuPercent = cpuPercent
        self.memoryBytes = memoryBytes
    }

    enum CodingKeys: String, CodingKey { case cpuPercent, memoryBytes }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cpuPercent = try c.decodeIfPresent(Int.self, forKey: .cpuPercent, in: Bounds.cpuPercent)
        memoryBytes = try c.decodeIfPresent(UInt64.self, forKey: .memoryBytes, in: Bounds.memoryBytes)
    }

    public func validate() throws(SpecError) {
        guard cpuPercent != nil || memoryBytes != nil else {
            throw SpecError(field: "limits", problem: "needs cpuPercent or memoryBytes (or both); DELETE the resize to go back to the specs' limits")
        }
        try ServiceSpec.checkCPUPercent(cpuPercent, field: "cpuPercent")
        try ServiceSpec.checkMemoryBytes(memoryBytes, field: "memoryBytes")
    }

    /// The limits an instance of a release with `spec` runs with, this resize applied.
    public func applied(to spec: ServiceSpec.Resources) -> ServiceSpec.Resources {
        var result = spec
        result.cpuPercent = cpuPercent ?? spec.cpuPercent
        result.memoryBytes = memoryBytes ?? spec.memoryBytes
        return result
    }
}
