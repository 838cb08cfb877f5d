/// The autoscaling decision, pure: samples and the recent past in, a count and its reason
/// out. Time is an offset on the caller's monotonic clock, so a test replays hours of load
/// in microseconds.
///
/// A value type: the caller keeps it between intervals (it remembers recent recommendations
/// for the stabilization windows).
public struct Autoscaler: Sendable, Equatable {
    public let policy: AutoscalePolicy
    /// Recommendations of the recent past, oldest first.
    private(set) var history: [(time: Duration, count: Int)] = []

    public init(policy: AutoscalePolicy) {
        self.policy = policy
    }

    public struct Decision: Sendable, Equatable {
        /// The count to run now.
        public var desired: Int
        /// What the load alone asks for (before windows, steps and bounds).
        public var recommendation: Int
        public var reason: String
    }

    /// Decides the count for `now`, given the `current` count and one sample per instance.
    public mutating func decide(current: Int, samples: [AutoscaleSample], now: Duration) -> Decision {
        let recommendation = recommend(current: current, samples: samples)
        history.append((now, recommendation.count))
        let window = Swift.max(policy.scaleUpStabilization, policy.scaleDownStabilization)
        history.removeAll { now - $0.time > window }

        var desired = current
        var why = recommendation.reason
        let upWindow = history.filter { now - $0.time <= policy.scaleUpStabilization }.map(\.count)
        let downWindow = history.filter { now - $0.time <= policy.scaleDownStabilization }.map(\.count)
        if let lowestRecent = upWindow.min(), lowestRecent > current {
            let step = policy.maxStepUp ?? Swift.max(current, 4)
            desired = Swift.min(lowestRecent, current.addingSaturated(step))
            if desired < lowestRecent { why += "; at most +\(step) at once" }
        } else if let highestRecent = downWindow.max(), highestRecent < current {
            desired = Swift.max(highestRecent, current.subtractingSaturated(policy.maxStepDown ?? current))
            why += "; lower for the whole \(policy.scaleDownStabilization) window"
        } else if recommendation.count < current {
            why += "; held: a higher recommendation within the last \(policy.scaleDownStabilization)"
        }
        let bounded = Swift.min(Swift.max(desired, policy.min), policy.max)
        if bounded != desired { why += "; kept within \(policy.min)…\(policy.max)" }
        return Decision(desired: bounded, recommendation: recommendation.count, reason: why)
    }

    /// Forgets the recent past and takes `count` as if just recommended: after a manual
    /// scale, the count an operator chose holds for a whole down window before load lowers it.
    public mutating func reset(to count: Int, at now: Duration) {
        history = [(now, count)]
    }

    /// `ceil(current × observed / target)` for each target; the highest wins.
    private func recommend(current: Int, samples: [AutoscaleSample]) -> (count: Int, reason: String) {
        let ready = samples.filter(\.ready)
        var best: (count: Int, reason: String)?
        func consider(_ name: String, observed values: [Double], target: Double, unit: String) {
            guard !values.isEmpty else { return }
            let average = values.reduce(0, +) / Double(values.count)
            let ratio = average / target
            // However small the target or large the reading, the count stays a sane Int: the
            // bounds below cut it to `max` anyway.
            let count = abs(ratio - 1) <= policy.tolerance
                ? current : Int(roundingUp: Double(current) * ratio, clampedTo: Bounds.instances, fallback: current)
            let reason = "\(name) \(format(average))\(unit) per instance vs target \(format(target))\(unit) (\(values.count) ready instances) → \(count)"
            if best == nil || count > best!.count { best = (count, reason) }
        }
        if let cpu = policy.cpu {
            consider("cpu", observed: ready.compactMap(\.cpu), target: cpu, unit: " cores")
        }
        if let memory = policy.memoryBytes {
            consider("memory", observed: ready.compactMap { sample in sample.memoryBytes.map { Double($0) } }, target: Double(memory), unit: " bytes")
        }
        return best ?? (current, "no readings from ready instances: keeping \(current)")
    }

    private func format(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        guard rounded.isFinite, abs(rounded) < 1e15 else { return String(value) }
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    public static func == (lhs: Autoscaler, rhs: Autoscaler) -> Bool {
        lhs.policy == rhs.policy && lhs.history.map(\.time) == rhs.history.map(\.time) && lhs.history.map(\.count) == rhs.history.map(\.count)
    }
}
