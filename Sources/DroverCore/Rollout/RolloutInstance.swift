/// One instance as the rollout planner sees it. Times are offsets on one monotonic clock
/// (the caller's), so the planner itself never reads a clock.
public struct RolloutInstance: Sendable, Equatable {
    public var slot: Int
    public var version: ReleaseVersion
    /// When it was started.
    public var startedAt: Duration
    public var condition: Condition
    /// Why it is not healthy yet, as last observed ("health check /healthz: HTTP 503"), for
    /// the reason of a missed deadline.
    public var note: String?

    public enum Condition: Sendable, Equatable {
        /// Running, not (yet) healthy.
        case starting
        /// Active, ready and passing its health check, continuously since this time.
        case healthy(since: Duration)
        /// Will not become healthy: it exited, hit its start limit, or its health check failed.
        case failed(reason: String)
    }

    public init(slot: Int, version: ReleaseVersion, startedAt: Duration, condition: Condition, note: String? = nil) {
        self.slot = slot
        self.version = version
        self.startedAt = startedAt
        self.condition = condition
        self.note = note
    }

    /// Healthy for at least `minHealthy` at `now`.
    func isServing(now: Duration, minHealthy: Duration) -> Bool {
        if case .healthy(let since) = condition { return now - since >= minHealthy }
        return false
    }

    /// Ready and passing its health check (for however long).
    public var isHealthy: Bool {
        if case .healthy = condition { return true }
        return false
    }

    public var isFailed: Bool {
        if case .failed = condition { return true }
        return false
    }
}
