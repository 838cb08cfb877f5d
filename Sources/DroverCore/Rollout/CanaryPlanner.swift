/// Decides the canary step of a deployment: `count` instances of the target release beside
/// every instance of the old one, which it never touches. Pure, like `RolloutPlanner`.
///
/// - A canary that fails, or is not healthy for `minHealthy` within `deadline` of its start,
///   fails the canary (the deployment aborts: the old release was never touched).
/// - Short of `count`, canaries start in the lowest slots no instance uses; beyond it, the
///   highest stop.
/// - When all `count` serve, the canary is up (`complete`): the deployment waits to be
///   promoted, and the planner keeps reporting `failed` for a canary that fails meanwhile.
public enum CanaryPlanner {
    public static func next(instances: [RolloutInstance], target: RolloutTarget, now: Duration) -> RolloutDecision {
        let canaries = instances.filter { $0.version == target.version }
        for instance in canaries.sorted(by: { $0.slot < $1.slot }) {
            if case .failed(let reason) = instance.condition {
                return .failed("canary \(target.version)@\(instance.slot) failed: \(reason)")
            }
            if !instance.isServing(now: now, minHealthy: target.minHealthy), !instance.isHealthy, now - instance.startedAt > target.deadline {
                let last = instance.note.map { " (last: \($0))" } ?? ""
                return .failed("canary \(target.version)@\(instance.slot) was not healthy within the deadline of \(target.deadline)\(last)")
            }
        }
        if canaries.count > target.count {
            let surplus = canaries.sorted { $0.slot > $1.slot }.prefix(canaries.count - target.count)
            return .act(surplus.map { RolloutAction(.stop, slot: $0.slot, version: $0.version, reason: "more than \(target.count) canaries") })
        }
        if canaries.count < target.count {
            var used = Set(instances.map(\.slot))
            var starts: [RolloutAction] = []
            for index in canaries.count..<target.count {
                let slot = (1...).first { !used.contains($0) }!
                used.insert(slot)
                starts.append(RolloutAction(.start, slot: slot, version: target.version, reason: "canary \(index + 1) of \(target.count)"))
            }
            return .act(starts)
        }
        let serving = canaries.filter { $0.isServing(now: now, minHealthy: target.minHealthy) }.count
        if serving == target.count { return .complete }
        return .wait("\(serving) of \(target.count) canaries of \(target.version) serving")
    }
}
