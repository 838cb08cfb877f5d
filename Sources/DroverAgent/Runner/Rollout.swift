import DroverAPI
import DroverCore
import DroverSystemd
import Foundation

/// Drives one deployment to its end: observe, plan, record, act, until complete or failed;
/// on failure, revert to the previous release with the same machinery. The pure
/// `RolloutPlanner` decides; this carries its decisions out, each step in the runner's
/// exclusive section.
///
/// It stops where it is, recording nothing, when a newer deployment supersedes it or the
/// service is being deleted; when the agent stops, the deployment stays "running" in the
/// store and resumes at the next start.
struct Rollout {
    let runner: ServiceRunner
    let deployment: DeploymentInfo

    private var context: AgentContext { runner.context }
    private var store: StateStore { context.store }
    private var service: ServiceName { deployment.service }

    static func target(version: ReleaseVersion, count: Int, strategy: DeploymentStrategy) -> RolloutTarget {
        RolloutTarget(version: version, count: count, maxSurge: strategy.maxSurge, maxUnavailable: strategy.maxUnavailable,
                      minHealthy: .seconds(clamping: strategy.minHealthySeconds),
                      deadline: .seconds(clamping: strategy.deadlineSeconds))
    }

    func run() async {
        var reverting = deployment.state == .reverting
        var failure = deployment.reason
        var target = Self.target(version: reverting ? (deployment.fromVersion ?? deployment.toVersion) : deployment.toVersion,
                                 count: deployment.instances, strategy: deployment.strategy)
        let observer = InstanceObserver(service: service, journal: context.journal)
        let logger = context.logger
        do {
            // A canary first: its instances beside the old ones, until promoted (then the
            // rollout below goes on from there) or aborted (then it ends here).
            if deployment.strategy.canary != nil, !reverting {
                guard try await runCanary(observer: observer) else { return }
            }
            // Releases never change: their specs are read once, and again only if an instance of a
            // version uploaded since shows up.
            var specs = try await specsOfReleases()
            var reportedHealthy: Int?
            while !Task.isCancelled, await runner.isCurrent(deployment.id) {
                let instances = try await observe(observer, specs: &specs, target: target)
                // Progress is an event of the deployment, so that whoever follows it (the CLI's
                // board) learns of it from the event stream rather than by asking again and again.
                let healthy = instances.filter { $0.version == target.version && $0.isHealthy }.count
                if healthy != reportedHealthy {
                    reportedHealthy = healthy
                    try await store.record("deployment.progress", service: service, deployment: deployment.id,
                                           "deployment \(deployment.id): \(healthy) of \(target.count) instances of \(target.version) healthy")
                }
                let decision = RolloutPlanner.next(instances: instances, target: target, now: observer.now)
                logger.debug("rollout step", metadata: ["deployment": "\(deployment.id)", "now": "\(observer.now)", "instances": "\(instances.map { "\($0.version)@\($0.slot) \($0.condition)" })", "decision": "\(decision)"])
                switch decision {
                case .act(let actions):
                    // A step is one of the runner's changes: nothing else touches the service meanwhile.
                    try await runner.exclusively { [specs, target, instances] in
                        guard await runner.isCurrent(deployment.id) else { return }
                        // Recorded before it is taken: a restarted agent knows what was under way.
                        try await store.record("deployment.step", service: service, deployment: deployment.id, "deployment \(deployment.id): " + actions.map(\.description).joined(separator: "; "))
                        // Every slot this rollout can reach gets its PORT file in the first step (the
                        // planner never goes beyond what runs plus the surge), not one fsync per step.
                        let highest = max((actions.map(\.slot) + instances.map(\.slot)).max() ?? 0, target.count).addingSaturated(target.maxSurge)
                        try await runner.prepareSlots(upTo: highest)
                        let failed = Set(instances.filter(\.isFailed).map { UnitNames.instance(service, $0.version, slot: $0.slot) })
                        try await perform(actions, specs: specs, failed: failed, observer: observer, deadline: target.deadline)
                    }
                case .wait:
                    // Until a unit changes, a health check is due, or time alone changes the plan.
                    let now = observer.now
                    let due = [observer.nextProbe, RolloutPlanner.nextDue(instances: instances, target: target, now: now)].compactMap { $0 }.min()
                    let wait = min(due.map { max($0 - now, .milliseconds(1)) } ?? .seconds(5), .seconds(5))
                    await runner.view.changes.wait(until: .now + wait)
                    try Task.checkCancellation()
                case .complete:
                    try await runner.exclusively { [reverting, failure, target] in
                        guard await runner.isCurrent(deployment.id) else { return }
                        try await finish(reverting: reverting, failure: failure, target: target)
                    }
                    return
                case .failed(let reason):
                    if !reverting, deployment.strategy.autoRevert, let previous = deployment.fromVersion {
                        failure = reason
                        reverting = true
                        target.version = previous
                        try await store.transition(deployment, to: .reverting, reason: reason, event: "deployment.reverting", "\(reason); reverting to \(previous)")
                        logger.warning("deployment failed, reverting", metadata: ["deployment": "\(deployment.id)", "reason": "\(reason)"])
                    } else {
                        let text = reverting ? "\(failure ?? "failed"); reverting failed too: \(reason)" : reason
                        try await store.transition(deployment, to: .failed, reason: text, event: "deployment.failed", text)
                        return
                    }
                }
            }
        } catch is CancellationError {
            // Shutdown: the deployment stays "running" in the store and resumes at the next start.
        } catch {
            logger.error("deployment stopped by an error", metadata: ["deployment": "\(deployment.id)", "error": "\(error)"])
            try? await store.transition(deployment, to: .failed, reason: "the agent hit an error: \(error)", event: "deployment.failed", "the agent hit an error: \(error)")
        }
    }

    /// The service's instances as the planners see them. Releases never change: their specs
    /// are read again only when an instance of a version uploaded since shows up.
    func observe(_ observer: InstanceObserver, specs: inout [ReleaseVersion: ServiceSpec], target: RolloutTarget) async throws -> [RolloutInstance] {
        let ports = try await runner.slotPorts()
        let instances = await observer.observe(units: await runner.view.instanceUnits(), specs: specs, ports: ports,
                                               target: target.version, minHealthy: target.minHealthy)
        guard instances.contains(where: { specs[$0.version] == nil }) else { return instances }
        specs = try await specsOfReleases()
        return await observer.observe(units: await runner.view.instanceUnits(), specs: specs, ports: ports,
                                      target: target.version, minHealthy: target.minHealthy)
    }

    func specsOfReleases() async throws -> [ReleaseVersion: ServiceSpec] {
        Dictionary(uniqueKeysWithValues: try await store.releases(of: service).map { ($0.version, $0.spec) })
    }

    /// Stops and starts at once: the planner never starts in a slot this batch vacates, and
    /// stops a serving instance only when availability allows, so neither waits for the other's
    /// end. Starts are asked for only once systemd has taken every stop of the batch, though:
    /// the planner counts a stopped instance as gone, and a start asked for first (its task ran
    /// earlier on a busy machine) could be ready while the old instance still ran, one more
    /// than count + maxSurge (CI saw 6 active where 5 is the limit).
    /// A start waits at most the deadline (the planner judges the rest).
    func perform(_ actions: [RolloutAction], specs: [ReleaseVersion: ServiceSpec], failed: Set<String>,
                         observer: InstanceObserver, deadline: Duration) async throws {
        let (service, systemd) = (self.service, context.systemd)
        for version in Set(actions.filter { $0.kind == .start }.map(\.version)) {
            if let spec = specs[version] { try await SharedSocket(context: context, service: service).ensure(for: spec) }
        }
        for action in actions where action.kind == .stop {
            observer.stopped(UnitNames.instance(service, action.version, slot: action.slot))
        }
        let stopped = await withTaskGroup(of: String?.self) { group in
            var stopsQueued: [AsyncStream<Void>] = []
            for action in actions where action.kind == .stop {
                let unit = UnitNames.instance(service, action.version, slot: action.slot)
                let (queued, signal) = AsyncStream<Void>.makeStream()
                stopsQueued.append(queued)
                group.addTask {
                    let done = (try? await systemd.stopUnit(unit, whenQueued: { signal.finish() })) != nil
                    // One that failed on its way down is forgotten too.
                    try? await systemd.resetFailed(unit)
                    return done ? unit : nil
                }
            }
            for queued in stopsQueued { for await _ in queued {} }
            for action in actions where action.kind == .start {
                let unit = UnitNames.instance(service, action.version, slot: action.slot)
                group.addTask {
                    // Only a failed unit needs it (asking about another would load it for nothing).
                    if failed.contains(unit) { try? await systemd.resetFailed(unit) }
                    // Failures show in the next observation; waiting longer than the deadline is pointless.
                    _ = try? await withDeadline(deadline) { try await systemd.startUnit(unit) }
                    return nil
                }
            }
            return await group.reduce(into: [String]()) { if let unit = $1 { $0.append(unit) } }
        }
        // A new instance's deadline runs from the end of its step: a slow stop in the same
        // step (one draining its connections) must not use up the time it has to become healthy.
        for action in actions where action.kind == .start {
            observer.started(UnitNames.instance(service, action.version, slot: action.slot))
        }
        let stops = actions.filter { $0.kind == .stop }.map { UnitNames.instance(service, $0.version, slot: $0.slot) }
        await runner.view.touched(stops.filter { !stopped.contains($0) }
                                  + actions.filter { $0.kind == .start }.map { UnitNames.instance(service, $0.version, slot: $0.slot) },
                                  stopped: stopped)
    }

    /// Records the outcome; after a success, old releases are collected first, so whoever sees
    /// "succeeded" also sees the retention applied.
    private func finish(reverting: Bool, failure: String?, target: RolloutTarget) async throws {
        try await store.setCurrentVersion(target.version, instances: target.count, of: service)
        if !reverting {
            do {
                try await ReleaseRetention(context: context, service: service).collect()
            } catch {
                context.logger.warning("could not remove old releases", metadata: ["service": "\(service)", "error": "\(error)"])
            }
        }
        if reverting {
            let text = "\(failure ?? "failed"); reverted to \(target.version)"
            try await store.transition(deployment, to: .failed, reason: text, event: "deployment.reverted", text)
        } else {
            try await store.transition(deployment, to: .succeeded, reason: nil, event: "deployment.succeeded", "\(target.count) instances of \(target.version)")
        }
        context.logger.info("deployment finished", metadata: ["deployment": "\(deployment.id)", "version": "\(target.version)", "reverted": "\(reverting)"])
    }
}

/// Runs `body`, giving up (by cancelling it) after `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw CancellationError()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
