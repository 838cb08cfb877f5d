/// Decides the next step of a rolling replacement. Pure: the same state always gives the same
/// decision, so a restarted agent that re-reads the world continues where it was.
///
///     instances + target + now ──▶ next(…) ──▶ act([start/stop]) | wait | complete | failed
///
/// Guarantees (checked by property tests): instances serving never drop below
/// `count - maxUnavailable` because of a stop (or below what served at the start, if fewer);
/// instances running never exceed `count + maxSurge` because of a start (or what ran at the
/// start, if more); a new instance that fails, or is not healthy for `minHealthy` within
/// `deadline` of its start, fails the rollout; when new instances become healthy, it ends.
public enum RolloutPlanner {
    public static func next(instances: [RolloutInstance], target: RolloutTarget, now: Duration) -> RolloutDecision {
        let new = instances.filter { $0.version == target.version }
        let old = instances.filter { $0.version != target.version }

        // A new instance that failed, or ran out of time, fails the rollout.
        for instance in new.sorted(by: { $0.slot < $1.slot }) {
            if case .failed(let reason) = instance.condition {
                return .failed("\(target.version)@\(instance.slot) failed: \(reason)")
            }
            if !instance.isServing(now: now, minHealthy: target.minHealthy), now - instance.startedAt > target.deadline {
                let last = instance.note.map { " (last: \($0))" } ?? ""
                return .failed("\(target.version)@\(instance.slot) was not healthy for \(target.minHealthy) within the deadline of \(target.deadline)\(last)")
            }
        }

        let servingNew = new.filter { $0.isServing(now: now, minHealthy: target.minHealthy) }
        if old.isEmpty, new.count == target.count, servingNew.count == target.count { return .complete }

        var stops: [RolloutAction] = []
        // Old instances that do not serve (failed, starting) go first: they cost no capacity.
        for instance in old where !instance.isServing(now: now, minHealthy: .zero) {
            stops.append(RolloutAction(.stop, slot: instance.slot, version: instance.version, reason: "replaced by \(target.version) (not serving)"))
        }
        // New instances beyond the count (the target shrank): the highest slots, non-serving first.
        let surplusNew = new.sorted { ($0.isServing(now: now, minHealthy: target.minHealthy) ? 1 : 0, -$0.slot) < ($1.isServing(now: now, minHealthy: target.minHealthy) ? 1 : 0, -$1.slot) }
            .prefix(max(0, new.count - target.count))
        var serving = old.filter { $0.isServing(now: now, minHealthy: .zero) }.count + servingNew.count
        let floor = target.count.subtractingSaturated(target.maxUnavailable)
        for instance in surplusNew {
            let counts = instance.isServing(now: now, minHealthy: target.minHealthy)
            if counts && serving - 1 < floor { continue }
            if counts { serving -= 1 }
            stops.append(RolloutAction(.stop, slot: instance.slot, version: instance.version, reason: "more than \(target.count) instances"))
        }
        // Healthy old instances, highest slot first, as far as availability allows.
        for instance in old.filter({ $0.isServing(now: now, minHealthy: .zero) }).sorted(by: { $0.slot > $1.slot }) where serving - 1 >= floor {
            serving -= 1
            stops.append(RolloutAction(.stop, slot: instance.slot, version: instance.version, reason: "replaced by \(target.version)"))
        }

        // New instances in the lowest free slots, as far as surge allows.
        let stopped = Set(stops.map { "\($0.version)@\($0.slot)" })
        let remaining = instances.filter { !stopped.contains("\($0.version)@\($0.slot)") }
        let running = remaining.filter { !$0.isFailed }.count
        let room = target.count.addingSaturated(target.maxSurge).subtractingSaturated(running)
        let keptNew = remaining.filter { $0.version == target.version }.count
        // Not in a slot vacated by this very batch: its port may still be held for a moment by
        // the process being stopped. A later batch reuses it.
        var used = Set(instances.map(\.slot))
        var starts: [RolloutAction] = []
        for _ in 0..<max(0, min(room, target.count - keptNew)) {
            let slot = (1...).first { !used.contains($0) }!
            used.insert(slot)
            starts.append(RolloutAction(.start, slot: slot, version: target.version, reason: "\(keptNew + starts.count + 1) of \(target.count) at \(target.version)"))
        }

        if !stops.isEmpty || !starts.isEmpty { return .act(stops + starts) }
        let pending = new.count - servingNew.count
        return .wait("\(servingNew.count) of \(target.count) instances of \(target.version) serving; waiting for \(pending) to become healthy")
    }

    /// When time alone may change the decision (a new instance's `minHealthy` completing, or
    /// its deadline passing), so the rollout can sleep until then instead of polling.
    public static func nextDue(instances: [RolloutInstance], target: RolloutTarget, now: Duration) -> Duration? {
        var due: Duration?
        for instance in instances where instance.version == target.version {
            let time: Duration
            switch instance.condition {
            case .healthy(let since): time = since + target.minHealthy
            case .starting: time = instance.startedAt + target.deadline + .milliseconds(1)
            case .failed: continue
            }
            if time > now { due = min(due ?? time, time) }
        }
        return due
    }
}
