/// How long to wait before starting a crashed instance again, doubling with each crash:
/// 10 s, 20 s, 40 s … up to 5 minutes, forgotten once the instance has stayed up for 10
/// minutes (Kubernetes' CrashLoopBackOff, with the same numbers).
///
/// systemd restarts a crashed instance by itself (`Restart=`), up to its start limit; this is
/// what happens after systemd gives up, so that "N instances keep running" holds without
/// hammering a service that cannot start.
public struct CrashLoopBackoff: Sendable, Equatable {
    public static let initialDelay: Duration = .seconds(10)
    public static let maximumDelay: Duration = .seconds(300)
    /// Up this long, an instance is healthy again: its next crash waits the initial delay.
    public static let resetAfter: Duration = .seconds(600)

    /// Crashes counted since the instance last stayed up for `resetAfter`.
    public private(set) var crashes = 0
    /// When the instance may be started again.
    public private(set) var nextTry: Duration = .zero
    /// When it was last started, by the reconciler.
    public private(set) var lastStart: Duration?
    /// Whether a crash is counted and its restart still due.
    public private(set) var awaitingRestart = false

    public init() {}

    /// Counts a crash seen at `now` (once per crash) and returns the delay before the next try.
    @discardableResult
    public mutating func crashed(at now: Duration) -> Duration {
        if awaitingRestart { return max(.zero, nextTry - now) }
        crashes = crashes.addingSaturated(1)
        let delay = Self.delay(afterCrashes: crashes)
        nextTry = now + delay
        awaitingRestart = true
        return delay
    }

    /// Whether the instance may be started at `now`.
    public func mayStart(at now: Duration) -> Bool { !awaitingRestart || now >= nextTry }

    public mutating func started(at now: Duration) {
        lastStart = now
        awaitingRestart = false
    }

    /// True when the instance, up at `now`, has been up long enough to forget its crashes.
    public func isRecovered(upAt now: Duration) -> Bool {
        !awaitingRestart && (lastStart.map { now - $0 >= Self.resetAfter } ?? true)
    }

    /// 10 s × 2^(crashes − 1), at most 5 minutes.
    public static func delay(afterCrashes crashes: Int) -> Duration {
        guard crashes > 1 else { return initialDelay }
        let doublings = min(crashes - 1, 16)
        return min(initialDelay * (1 << doublings), maximumDelay)
    }
}
