/// Turns cumulative CPU time (cgroup `usage_usec`, systemd `CPUUsageNSec`) into a rate in
/// cores: the CPU time used between two readings of the same instance over the time between
/// them. Pure: the caller passes readings and the time on its own monotonic clock.
///
/// The first reading of an instance gives no rate (nil, not zero): a new instance is not yet
/// measured. Readings closer than `minimumSpan` keep the last rate instead of dividing noise by
/// a tiny interval.
public struct CPURateMeter: Sendable {
    public var minimumSpan: Duration
    private var last: [String: (time: Duration, microseconds: UInt64, rate: Double?)] = [:]

    public init(minimumSpan: Duration = .milliseconds(500)) {
        self.minimumSpan = minimumSpan
    }

    /// Records `microseconds` of CPU used so far by `instance` at `now`; returns its rate in
    /// cores since the previous reading, if there was one.
    public mutating func rate(of instance: String, microseconds: UInt64, at now: Duration) -> Double? {
        guard let previous = last[instance] else {
            last[instance] = (now, microseconds, nil)
            return nil
        }
        let span = now - previous.time
        if span < minimumSpan { return previous.rate }
        // A counter that went backwards is a new cgroup under the same name (a restart).
        guard microseconds >= previous.microseconds else {
            last[instance] = (now, microseconds, nil)
            return nil
        }
        let rate = Double(microseconds - previous.microseconds) / 1e6 / span.seconds
        last[instance] = (now, microseconds, rate)
        return rate
    }

    /// Forgets instances not in `instances` (stopped ones), so the table stays small.
    public mutating func keep(only instances: Set<String>) {
        last = last.filter { instances.contains($0.key) }
    }
}
