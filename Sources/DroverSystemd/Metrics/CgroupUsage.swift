/// A unit's resource use read from its cgroup at one moment. Nil means "not available
/// here", never zero.
public struct CgroupUsage: Sendable, Equatable {
    /// CPU time used since the cgroup was created (v2 `cpu.stat` `usage_usec`), in microseconds.
    public var cpuMicroseconds: UInt64?
    /// Memory in use: `memory.current`, or the sum of the processes' resident sets.
    public var memoryBytes: UInt64?
    /// `some avg10` of `cpu.pressure` and `memory.pressure` (percent of the last 10 s stalled).
    public var cpuPressure: Double?
    public var memoryPressure: Double?

    public init(cpuMicroseconds: UInt64? = nil, memoryBytes: UInt64? = nil, cpuPressure: Double? = nil, memoryPressure: Double? = nil) {
        self.cpuMicroseconds = cpuMicroseconds
        self.memoryBytes = memoryBytes
        self.cpuPressure = cpuPressure
        self.memoryPressure = memoryPressure
    }
}
