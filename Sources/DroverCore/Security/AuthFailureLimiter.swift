/// Slows down guessing tokens: a client address that failed authentication `maxFailures` times
/// within `window` is refused for `penalty` after its last failure, without its token being
/// looked at. Other addresses are not affected, and a success clears the address's count.
/// Pure: the caller gives the time. At most `maxAddresses` are tracked; when full, the one
/// seen longest ago is forgotten (a flood of addresses cannot grow memory).
public struct AuthFailureLimiter: Sendable {
    public let maxFailures: Int
    public let window: Duration
    public let penalty: Duration
    public let maxAddresses: Int
    private var failures: [String: Entry] = [:]

    private struct Entry: Sendable {
        var times: [ContinuousClock.Instant]
        var last: ContinuousClock.Instant
    }

    public init(maxFailures: Int = 10, window: Duration = .seconds(60), penalty: Duration = .seconds(60), maxAddresses: Int = 10_000) {
        self.maxFailures = max(1, maxFailures)
        self.window = window
        self.penalty = penalty
        self.maxAddresses = max(1, maxAddresses)
    }

    /// How long `address` must still wait, or nil when it may try.
    public func retryAfter(_ address: String, now: ContinuousClock.Instant) -> Duration? {
        guard let entry = failures[address] else { return nil }
        let recent = entry.times.filter { now - $0 < window }
        guard recent.count >= maxFailures else { return nil }
        let left = penalty - (now - entry.last)
        return left > .zero ? left : nil
    }

    public mutating func recordFailure(_ address: String, now: ContinuousClock.Instant) {
        var entry = failures[address] ?? Entry(times: [], last: now)
        entry.times = entry.times.filter { now - $0 < window }.suffix(maxFailures - 1) + [now]
        entry.last = now
        if failures[address] == nil, failures.count >= maxAddresses,
           let oldest = failures.min(by: { $0.value.last < $1.value.last })?.key {
            failures[oldest] = nil
        }
        failures[address] = entry
    }

    public mutating func recordSuccess(_ address: String) {
        failures[address] = nil
    }

    /// Addresses tracked now (for tests and metrics).
    public var trackedAddresses: Int { failures.count }
}
