/// systemd's start limit, kept by the agent for the instances of a service that `listen`s.
///
/// When a unit that takes a socket (`Sockets=`) hits its start limit, systemd stops the socket
/// too (`service-start-limit-hit`); the port then stays held by the instances still running,
/// and the socket can never listen again. So the instances of a `listen` service run with
/// `StartLimitIntervalSec=0`: systemd restarts them without a limit, and the agent stops one
/// that restarted `burst` times within `interval` and hands it to the crash-loop back-off —
/// what systemd's limit would do, without taking the shared socket down with it.
///
/// Fed with the unit's `NRestarts` as it is observed; pure, the clock is a parameter.
public struct RestartLimit: Sendable, Equatable {
    public let burst: Int
    public let interval: Duration
    private var lastCount: UInt32?
    /// When each restart within the interval was seen.
    private var restarts: [Duration] = []

    /// `burst` is kept to the spec's range (1…1,000) here too: a stored spec is outside input,
    /// and a counter conversion must not trap on it.
    public init(burst: Int, interval: Duration) {
        self.burst = min(max(1, burst), 1_000)
        self.interval = interval
    }

    /// Restarts seen within the interval before `now`.
    public func recentRestarts(at now: Duration) -> Int { restarts.filter { now - $0 < interval }.count }

    /// Takes the unit's restart counter as read at `now`; returns true once the unit has
    /// restarted `burst` times within `interval` (then it should be stopped).
    ///
    /// The first reading is a baseline (the restarts before it happened at unknown times); a
    /// counter that went down belongs to a new start of the unit and starts over.
    public mutating func observe(restartCount: UInt32, at now: Duration) -> Bool {
        defer { lastCount = restartCount }
        guard let last = lastCount, restartCount >= last else {
            restarts.removeAll()
            return false
        }
        let new = Int(min(restartCount - last, UInt32(burst)))
        restarts += Array(repeating: now, count: new)
        restarts.removeAll { now - $0 >= interval }
        if restarts.count > burst { restarts.removeFirst(restarts.count - burst) }
        return restarts.count >= burst
    }
}
