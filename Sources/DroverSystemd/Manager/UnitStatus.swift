/// What systemd says about one unit: the properties Drover decides on.
///
/// Values systemd reports as "not set" (`UINT64_MAX`, empty) are nil, so a missing reading is
/// never mistaken for zero.
public struct UnitStatus: Sendable, Equatable {
    public var name: String
    /// `loaded`, `not-found`, `bad-setting`, `masked`, …
    public var loadState: String
    /// `active`, `activating`, `deactivating`, `inactive`, `failed`, `reloading`.
    public var activeState: String
    /// The type-specific state (`running`, `start`, `exited`, `dead`, …).
    public var subState: String
    /// For services: `success`, `exit-code`, `signal`, `timeout`, `watchdog`, `start-limit-hit`, …
    public var result: String?
    /// The main process, if one runs.
    public var mainPID: Int32?
    /// The exit status (or signal number) of the last main process.
    public var execMainStatus: Int32?
    /// `exited`, `killed` or `dumped`, for the last main process; nil if none ran.
    public var execMainCode: ExitCode?
    /// Automatic restarts since the unit was last started by hand.
    public var restartCount: UInt32?
    /// The unit's cgroup path, relative to the cgroup root.
    public var controlGroup: String?
    public var memoryCurrent: UInt64?
    public var memoryMax: UInt64?
    public var cpuUsageNanoseconds: UInt64?
    /// `CPUQuota=` as CPU time per second of wall time, in microseconds (50% = 500000).
    public var cpuQuotaPerSecondMicroseconds: UInt64?
    public var tasksCurrent: UInt64?
    /// The invocation ID of the current (or last) run, as 32 hex digits.
    public var invocationID: String?
    /// What a `Type=notify` service said with `STATUS=`.
    public var statusText: String?
    /// The id of a job queued or running for the unit (0: none). An inactive unit with a
    /// start job is about to run: its slot is taken.
    public var jobID: UInt32 = 0

    /// How the last main process ended (`CLD_*` codes).
    public enum ExitCode: Sendable, Equatable {
        case exited, killed, dumped, other(Int32)

        init?(_ code: Int32?) {
            switch code {
            case nil, 0: return nil
            case 1: self = .exited
            case 2: self = .killed
            case 3: self = .dumped
            case let code?: self = .other(code)
            }
        }
    }

    /// A status with its states only (nothing measured): what a stand-in for systemd reports.
    public init(name: String, loadState: String = "loaded", activeState: String, subState: String, jobID: UInt32 = 0) {
        self.name = name
        self.loadState = loadState
        self.activeState = activeState
        self.subState = subState
        self.jobID = jobID
    }

    public var isActive: Bool { activeState == "active" }
    public var isFailed: Bool { activeState == "failed" }

    init(name: String, unit: [String: BusValue], typeSpecific: [String: BusValue]) {
        func set(_ value: BusValue?) -> UInt64? {
            guard let value = value?.uint64, value != UInt64.max else { return nil }
            return value
        }
        self.name = name
        loadState = unit["LoadState"]?.string ?? "unknown"
        activeState = unit["ActiveState"]?.string ?? "unknown"
        subState = unit["SubState"]?.string ?? "unknown"
        result = typeSpecific["Result"]?.string
        mainPID = typeSpecific["MainPID"]?.int64.flatMap { $0 > 0 ? Int32(exactly: $0) : nil }
        execMainCode = ExitCode(typeSpecific["ExecMainCode"]?.int64.flatMap { Int32(exactly: $0) })
        execMainStatus = execMainCode == nil ? nil : typeSpecific["ExecMainStatus"]?.int64.flatMap { Int32(exactly: $0) }
        restartCount = typeSpecific["NRestarts"]?.uint64.flatMap { UInt32(exactly: $0) }
        controlGroup = typeSpecific["ControlGroup"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        memoryCurrent = set(typeSpecific["MemoryCurrent"])
        memoryMax = set(typeSpecific["MemoryMax"])
        cpuUsageNanoseconds = set(typeSpecific["CPUUsageNSec"])
        cpuQuotaPerSecondMicroseconds = set(typeSpecific["CPUQuotaPerSecUSec"])
        tasksCurrent = set(typeSpecific["TasksCurrent"])
        invocationID = unit["InvocationID"]?.bytes.flatMap { bytes in
            bytes.isEmpty ? nil : bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
        statusText = typeSpecific["StatusText"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        if case .structure(let job)? = unit["Job"], let id = job.first?.uint64 { jobID = UInt32(truncatingIfNeeded: id) }
    }
}
