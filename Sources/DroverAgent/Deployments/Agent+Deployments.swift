import DroverAPI
import DroverCore
import DroverSystemd
import Foundation

extension Agent {
    /// Starts a rolling deployment of `request.version`; returns at once (the rollout runs in
    /// the background: follow it with `deployment(_:)` or its events).
    public func deploy(_ service: ServiceName, _ request: DeploymentRequest) async throws -> DeploymentInfo {
        _ = try await existing(service)
        let owner = await owner(of: service)
        return try await owner.exclusively {
            let record = try await self.existing(service)
            guard let release = try await self.store.release(service, request.version) else {
                throw ServiceError(.unknownRelease, "\(service) has no release \(request.version): upload it first")
            }
            // Everything is checked before anything changes: a refused request leaves a running
            // deployment running.
            let strategy = request.strategy ?? DeploymentStrategy()
            let count = request.instances ?? max(record.desiredInstances, 1)
            do throws(SpecError) {
                try Self.target(version: request.version, count: count, strategy: strategy).validate(maxInstances: self.configuration.maxInstances)
            } catch {
                throw DeploymentError(.invalidStrategy, error.description)
            }
            let running = await owner.rollout?.id
            if let running, request.supersede != true {
                throw DeploymentError(.deploymentRunning, "deployment \(running) of \(service) is still running; wait for it, or ask to supersede it")
            }
            // A socket that cannot listen fails the request, not the rollout after a 202.
            if count > 0 { try await self.ensureSocket(service, spec: release.spec) }
            if let running {
                // Recorded here; the rollout itself is cancelled when the new one begins.
                if let superseded = try await self.store.deployment(running) {
                    try await self.store.transition(superseded, to: .superseded, reason: "superseded by a deployment of \(request.version)",
                                              event: "deployment.superseded", "superseded by a deployment of \(request.version)")
                }
            }
            let now = Date()
            let deployment = DeploymentInfo(
                // The release it replaces, which a failure reverts to; none when the target is
                // already current (a first deploy: the first upload became current), so a
                // failing release is never "reverted" to itself.
                id: UUID().uuidString.lowercased(), service: service,
                fromVersion: record.currentVersion == request.version ? nil : record.currentVersion, toVersion: request.version,
                instances: count, strategy: strategy, state: .running, reason: nil, createdAt: now, updatedAt: now
            )
            try await self.store.addDeployment(deployment)
            try await self.store.record("deployment.started", service: service, deployment: deployment.id,
                                  "deployment \(deployment.id): \(deployment.fromVersion?.rawValue ?? "nothing") → \(request.version), \(count) instances")
            await owner.forgetCrashes()
            await self.beginRollout(deployment)
            return deployment
        }
    }

    /// A deployment back to the release before the current one (or to `to`), with the same
    /// rollout machinery. The release is on disk already: no upload, nothing to verify again.
    public func rollback(_ service: ServiceName, to version: ReleaseVersion?, strategy: DeploymentStrategy? = nil) async throws -> DeploymentInfo {
        let record = try await existing(service)
        let releases = try await store.releases(of: service)
        let target: ReleaseVersion
        if let version {
            guard releases.contains(where: { $0.version == version }) else {
                throw ServiceError(.unknownRelease, "\(service) has no retained release \(version) (retained: \(releases.map(\.version.rawValue).joined(separator: ", ")))")
            }
            target = version
        } else {
            let currentIndex = releases.firstIndex { $0.version == record.currentVersion } ?? releases.count
            guard currentIndex > 0 else {
                throw DeploymentError(.nothingToRollBackTo, "\(service) has no release older than \(record.currentVersion?.rawValue ?? "none")")
            }
            target = releases[currentIndex - 1].version
        }
        return try await deploy(service, DeploymentRequest(version: target, instances: max(record.desiredInstances, 1), strategy: strategy))
    }

    public func deployment(_ id: String) async throws -> DeploymentInfo {
        guard let deployment = try await store.deployment(id) else {
            throw DeploymentError(.unknownDeployment, "there is no deployment \(id)")
        }
        return deployment
    }

    static func target(version: ReleaseVersion, count: Int, strategy: DeploymentStrategy) -> RolloutTarget {
        RolloutTarget(version: version, count: count, maxSurge: strategy.maxSurge, maxUnavailable: strategy.maxUnavailable,
                      minHealthy: .seconds(clamping: strategy.minHealthySeconds),
                      deadline: .seconds(clamping: strategy.deadlineSeconds))
    }

    // MARK: The rollout loop

    /// Hands the deployment to its service's owner, which cancels a rollout it supersedes and
    /// runs this one once that has stopped.
    func beginRollout(_ deployment: DeploymentInfo) async {
        let owner = await owner(of: deployment.service)
        await owner.beginRollout(deployment.id) { [self] in
            await roll(deployment, owner: owner)
            await owner.rolloutEnded(deployment.id)
        }
    }

    /// Drives one deployment to its end: observe, plan, record, act, until complete or failed;
    /// on failure, revert to the previous release with the same machinery.
    private func roll(_ deployment: DeploymentInfo, owner: ServiceOwner) async {
        let service = deployment.service
        var reverting = deployment.state == .reverting
        var failure = deployment.reason
        var target = Self.target(version: reverting ? (deployment.fromVersion ?? deployment.toVersion) : deployment.toVersion,
                                 count: deployment.instances, strategy: deployment.strategy)
        let observer = InstanceObserver(service: service, journal: journal)
        do {
            // Releases never change: their specs are read once, and again only if an instance of a
            // version uploaded since shows up.
            var specs = try await specsOfReleases(service)
            while !Task.isCancelled {
                let ports = try await store.allPorts(of: service)
                var instances = await observer.observe(units: await owner.instanceUnits(), specs: specs, ports: ports,
                                                       target: target.version, minHealthy: target.minHealthy)
                if instances.contains(where: { specs[$0.version] == nil }) {
                    specs = try await specsOfReleases(service)
                    instances = await observer.observe(units: await owner.instanceUnits(), specs: specs, ports: ports,
                                                       target: target.version, minHealthy: target.minHealthy)
                }
                let decision = RolloutPlanner.next(instances: instances, target: target, now: observer.now)
                logger.debug("rollout step", metadata: ["deployment": "\(deployment.id)", "now": "\(observer.now)", "instances": "\(instances.map { "\($0.version)@\($0.slot) \($0.condition)" })", "decision": "\(decision)"])
                switch decision {
                case .act(let actions):
                    // A step is one of the owner's changes: nothing else touches the service meanwhile.
                    try await owner.exclusively { [specs, target, instances] in
                        // Recorded before it is taken: a restarted agent knows what was under way.
                        try await self.store.record("deployment.step", service: service, deployment: deployment.id, "deployment \(deployment.id): " + actions.map(\.description).joined(separator: "; "))
                        // Every slot this rollout can reach gets its PORT file in the first step (the
                        // planner never goes beyond what runs plus the surge), not one fsync per step.
                        let highest = max((actions.map(\.slot) + instances.map(\.slot)).max() ?? 0, target.count).addingSaturated(target.maxSurge)
                        try await self.files.writeSlotEnvironment(service, ports: try self.store.ports(of: service, slots: highest, range: self.configuration.portRange))
                        let failed = Set(instances.filter(\.isFailed).map { UnitNames.instance(service, $0.version, slot: $0.slot) })
                        try await self.perform(actions, service: service, specs: specs, failed: failed, owner: owner, observer: observer, deadline: target.deadline)
                    }
                case .wait:
                    // Until a unit changes, a health check is due, or time alone changes the plan.
                    let now = observer.now
                    let due = [observer.nextProbe, RolloutPlanner.nextDue(instances: instances, target: target, now: now)].compactMap { $0 }.min()
                    await owner.nextChange(within: min(due.map { max($0 - now, .milliseconds(1)) } ?? .seconds(5), .seconds(5)))
                    try Task.checkCancellation()
                case .complete:
                    try await owner.exclusively { [reverting, failure, target] in
                        try await self.finish(deployment, reverting: reverting, failure: failure, target: target)
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

    private func specsOfReleases(_ service: ServiceName) async throws -> [ReleaseVersion: ServiceSpec] {
        await Dictionary(uniqueKeysWithValues: try store.releases(of: service).map { ($0.version, $0.spec) })
    }

    /// Stops and starts at once: the planner never starts in a slot this batch vacates, and
    /// stops a serving instance only when availability allows, so neither waits for the other.
    /// A start waits at most the deadline (the planner judges the rest).
    private func perform(_ actions: [RolloutAction], service: ServiceName, specs: [ReleaseVersion: ServiceSpec], failed: Set<String>,
                         owner: ServiceOwner, observer: InstanceObserver, deadline: Duration) async throws {
        for version in Set(actions.filter { $0.kind == .start }.map(\.version)) {
            if let spec = specs[version] { try await ensureSocket(service, spec: spec) }
        }
        for action in actions where action.kind == .stop {
            observer.stopped(UnitNames.instance(service, action.version, slot: action.slot))
        }
        let stopped = await withTaskGroup(of: String?.self) { group in
            for action in actions {
                let unit = UnitNames.instance(service, action.version, slot: action.slot)
                group.addTask {
                    switch action.kind {
                    case .stop:
                        let done = (try? await self.systemd.stopUnit(unit)) != nil
                        // One that failed on its way down is forgotten too.
                        try? await self.systemd.resetFailed(unit)
                        return done ? unit : nil
                    case .start:
                        // Only a failed unit needs it (asking about another would load it for nothing).
                        if failed.contains(unit) { try? await self.systemd.resetFailed(unit) }
                        // Failures show in the next observation; waiting longer than the deadline is pointless.
                        _ = try? await withDeadline(deadline) { try await self.systemd.startUnit(unit) }
                        return nil
                    }
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
        await owner.touched(stops.filter { !stopped.contains($0) }
                            + actions.filter { $0.kind == .start }.map { UnitNames.instance(service, $0.version, slot: $0.slot) },
                            stopped: stopped)
    }

    /// Records the outcome; after a success, old releases are collected first, so whoever sees
    /// "succeeded" also sees the retention applied.
    private func finish(_ deployment: DeploymentInfo, reverting: Bool, failure: String?, target: RolloutTarget) async throws {
        let service = deployment.service
        try await store.setCurrentVersion(target.version, instances: target.count, of: service)
        if !reverting {
            do {
                try await collectGarbage(service)
            } catch {
                logger.warning("could not remove old releases", metadata: ["service": "\(service)", "error": "\(error)"])
            }
        }
        if reverting {
            let text = "\(failure ?? "failed"); reverted to \(target.version)"
            try await store.transition(deployment, to: .failed, reason: text, event: "deployment.reverted", text)
        } else {
            try await store.transition(deployment, to: .succeeded, reason: nil, event: "deployment.succeeded", "\(target.count) instances of \(target.version)")
        }
        logger.info("deployment finished", metadata: ["deployment": "\(deployment.id)", "version": "\(target.version)", "reverted": "\(reverting)"])
    }

    /// Keeps the newest `keepReleases` releases and the current one; removes the rest, with their units.
    func collectGarbage(_ service: ServiceName) async throws {
        guard let current = try await store.service(service)?.currentVersion else { return }
        let releases = try await store.releases(of: service)
        let keep = Set(releases.suffix(configuration.keepReleases).map(\.version)).union([current])
        let loaded = try await systemd.listUnits(matching: [UnitNames.instancePattern(service)])
        let inUse = Set(loaded.filter(\.isInUse).compactMap { UnitNames.parseInstance($0.name)?.version })
        var removed: [ReleaseVersion] = []
        for release in releases where !keep.contains(release.version) && !inUse.contains(release.version) {
            units.removeTemplate(service, release.version)
            files.removeRelease(service, release.version)
            try await store.deleteRelease(service, release.version)
            removed.append(release.version)
        }
        guard !removed.isEmpty else { return }
        try await systemd.reload()
        try await store.record("release.removed", service: service, "removed old releases \(removed.map(\.rawValue).joined(separator: ", ")) (keeping \(configuration.keepReleases) and the current)")
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
