/// A resource setting changed at run time with `SetUnitProperties`, without restarting the unit.
public enum UnitPropertyChange: Sendable, Equatable {
    /// `MemoryMax=`; nil removes the limit.
    case memoryMax(bytes: UInt64?)
    /// `MemoryHigh=`; nil removes the limit.
    case memoryHigh(bytes: UInt64?)
    /// `CPUQuota=` in percent of one CPU (150 = one and a half); nil removes the quota.
    case cpuQuota(percent: Double?)
    /// `TasksMax=`; nil removes the limit.
    case tasksMax(UInt64?)

    /// The D-Bus property name and its `t` value (`UINT64_MAX` means "no limit").
    var assignment: (name: String, value: UInt64) {
        switch self {
        case .memoryMax(let bytes): ("MemoryMax", bytes ?? .max)
        case .memoryHigh(let bytes): ("MemoryHigh", bytes ?? .max)
        case .cpuQuota(let percent): ("CPUQuotaPerSecUSec", percent.map { UInt64(($0 * 10_000).rounded()) } ?? .max)
        case .tasksMax(let count): ("TasksMax", count ?? .max)
        }
    }
}
