import DroverAPI
import DroverCore
import DroverSystemd
import Foundation

extension Rollout {
    /// The canary phase: starts the canaries (`CanaryPlanner`), records the `canary` state once
    /// they serve, then watches them until a promotion (returns true: the rollout goes on),
    /// an abort, or a canary's failure (aborts, returns false). The state is re-read from the
    /// store at every step, so a promotion or abort made through the API (or before a
    /// restart) is seen at once.
    func runCanary(observer: InstanceObserver) async throws -> Bool {
        let store = runner.context.store
        var specs = try await specsOfReleases()
        while !Task.isCancelled, await runner.isCurrent(deployment.id) {
            guard let current = try await store.deployment(deployment.id) else { return false }
            guard let count = current.strategy.canary else { return current.state == .running }
            guard current.state == .running || current.state == .canary else { return false }
            var target = Self.target(version: current.toVersion, count: count, strategy: current.strategy)
            target.maxSurge = 0
            let instances = try await observe(observer, specs: &specs, target: target)
            let decision = CanaryPlanner.next(instances: instances, target: target, now: observer.now)
            var due: Duration?
            switch decision {
            case .failed(let reason):
                try await runner.exclusively { [deployment] in
                    guard await runner.isCurrent(deployment.id) else { return }
                    try await runner.abortCanary(current, reason: reason + "; the old release was not touched", event: "deployment.aborted")
                }
                return false
            case .act(let actions) where current.state == .running:
                try await runner.exclusively { [deployment, specs, instances, target] in
                    guard await runner.isCurrent(deployment.id) else { return }
                    try await store.record("deployment.step", service: deployment.service, deployment: deployment.id,
                                           "deployment \(deployment.id): " + actions.map(\.description).joined(separator: "; "))
                    try await runner.prepareSlots(upTo: max(actions.map(\.slot).max() ?? 0, instances.map(\.slot).max() ?? 0))
                    try await perform(actions, specs: specs, failed: [], observer: observer, deadline: target.deadline)
                }
                continue
            case .complete where current.state == .running:
                let old = instances.filter { $0.version != target.version }.count
                try await store.transition(current, to: .canary, reason: nil, event: "deployment.canary",
                                           "\(count) canar\(count == 1 ? "y" : "ies") of \(target.version) healthy beside \(old) instance\(old == 1 ? "" : "s") of \(current.fromVersion?.rawValue ?? "the old release")"
                                               + (current.strategy.autoPromoteSeconds.map { "; promoted by itself after \(Self.words($0)) healthy" } ?? "; promote or abort it"))
                continue
            case .complete:
                // Waiting as a canary: promoted by itself once healthy long enough.
                if let seconds = current.strategy.autoPromoteSeconds {
                    let left = seconds - Date().timeIntervalSince(current.updatedAt)
                    if left <= 0 {
                        try await runner.exclusively { [deployment] in
                            guard await runner.isCurrent(deployment.id) else { return }
                            try await store.promoteCanary(current, "promoted by itself: its canaries were healthy for \(Self.words(seconds))")
                        }
                        continue
                    }
                    due = observer.now + .milliseconds(Int64(left * 1000))
                }
            default:
                // Starting, or one canary is being replaced (a surplus): wait for the next change.
                due = RolloutPlanner.nextDue(instances: instances, target: target, now: observer.now)
            }
            let now = observer.now
            let wake = [observer.nextProbe, due].compactMap { $0 }.min()
            await runner.view.changes.wait(until: .now + min(wake.map { max($0 - now, .milliseconds(1)) } ?? .seconds(5), .seconds(5)))
            try Task.checkCancellation()
        }
        return false
    }

    static func words(_ seconds: Double) -> String {
        seconds >= 60 && seconds.truncatingRemainder(dividingBy: 60) == 0 ? "\(Int(seconds / 60))m" : "\(Int(seconds))s"
    }
}

extension ServiceRunner {
    /// Stops the canaries of `deployment` and records it aborted, the old release untouched.
    /// Called in the runner's exclusive section. The canaries stop before the record says so:
    /// an agent that stops in between finds the deployment still a canary, and aborts again.
    func abortCanary(_ deployment: DeploymentInfo, reason: String, event: String) async throws {
        let units = await view.instanceUnits().map(\.name).filter { UnitNames.parseInstance($0)?.version == deployment.toVersion }
        await withTaskGroup(of: Void.self) { group in
            for unit in units {
                group.addTask {
                    try? await self.context.systemd.stopUnit(unit)
                    try? await self.context.systemd.resetFailed(unit)
                }
            }
        }
        await view.touched([], stopped: units)
        try await context.store.transition(deployment, to: .aborted, reason: reason, event: event, reason)
        endRollout(deployment.id)
    }
}
