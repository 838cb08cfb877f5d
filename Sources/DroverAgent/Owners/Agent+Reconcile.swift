import DroverAPI
import DroverCore
import DroverSystemd
import Foundation

/// The reconciler: what each service's owner runs when systemd signals a change of its units,
/// on the slow ticker, and at start. It converges systemd to what the store wants, with the
/// pure `ReconcilePlanner` deciding, and records every action with its reason.
///
///     signal / tick / start ──▶ owner ──▶ [exclusive] read view ─▶ plan ─▶ act ─▶ record
///
/// It stands back while a rollout runs (the rollout owns the count until it ends) and once
/// the service is deleted.
extension Agent {
    func reconcile(_ owner: ServiceOwner) async {
        do {
            try await owner.exclusively {
                guard await !owner.isDeleted, await owner.rollout == nil,
                      let record = try await self.store.service(owner.name) else { return }
                if await owner.takeFullPass() {
                    if try await self.repairUnitFiles(of: record, reportUnrestorable: false) { try await self.systemd.reload() }
                }
                try await self.converge(owner, record: record)
            }
        } catch {
            logger.warning("reconcile pass failed; the next signal or tick tries again",
                           metadata: ["service": "\(owner.name)", "error": "\(error)"])
        }
    }

    /// Brings the instance count of the current release to the wanted one.
    private func converge(_ owner: ServiceOwner, record: StateStore.ServiceRecord) async throws {
        let service = record.name
        guard let version = record.currentVersion else { return }
        let units = await owner.instanceUnits()
        var byName: [String: UnitStatus] = [:]
        var observed: [ReconcilePlanner.Observed] = []
        for status in units {
            guard let parsed = UnitNames.parseInstance(status.name) else { continue }
            byName[status.name] = status
            observed.append(.init(slot: parsed.slot, version: parsed.version,
                                  state: InstanceState(activeState: status.activeState, hasJob: status.jobID != 0)))
        }
        let now = ContinuousClock.now - epoch
        let spec = try await store.release(service, version)?.spec
        let overLimit = try await stopInstancesOverRestartLimit(owner, units: units.filter { byName[$0.name] != nil }, spec: spec, now: now)
        for index in observed.indices where overLimit[UnitNames.instance(service, observed[index].version, slot: observed[index].slot)] != nil {
            observed[index].state = .failed
        }
        var backoff = await owner.backoff
        let before = backoff
        let plan = ReconcilePlanner.plan(wanted: .init(version: version, count: record.desiredInstances), observed: observed,
                                         backoff: &backoff, now: now)
        var crashLoops = await owner.crashLoops
        func unit(_ slot: Int) -> String { UnitNames.instance(service, version, slot: slot) }
        func why(_ slot: Int) async -> String {
            await journal.withLastLines(overLimit[unit(slot)] ?? byName[unit(slot)].map(Self.failure(of:)) ?? "stopped by itself", of: unit(slot))
        }
        // A crash seen for the first time is recorded with its reason and the wait before the next try.
        for (slot, nextTry) in plan.waiting where before[slot]?.awaitingRestart != true {
            let failure = await why(slot)
            let crashes = backoff[slot]?.crashes ?? 1
            crashLoops[slot] = (failure, epoch + nextTry)
            let wait = Int(((nextTry - now) / .seconds(1)).rounded(.up))
            try await store.record("instance.crashed", service: service,
                             "\(unit(slot)) crashed (\(failure)); starting it again in \(wait) s (crash \(crashes); the wait doubles up to 5 min)")
            logger.warning("instance crashed; starting it again after a back-off",
                           metadata: ["unit": "\(unit(slot))", "failure": "\(failure)", "seconds": "\(wait)"])
        }
        await owner.setBackoff(backoff, crashLoops: crashLoops)
        await owner.reconcileAgain(at: plan.retryAt.map { epoch + $0 })
        guard !plan.actions.isEmpty else { return }

        if plan.actions.contains(where: { if case .stop = $0 { false } else if case .forget = $0 { false } else { true } }) {
            if let spec { try await ensureSocket(service, spec: spec) }
            let highest = (plan.actions.map(\.slot) + observed.map(\.slot)).max() ?? 0
            try await files.writeSlotEnvironment(service, ports: try store.ports(of: service, slots: highest, range: configuration.portRange))
        }
        let up = observed.filter { $0.version == version && $0.state.isUp }.count
        for action in plan.actions {
            let name = unit(action.slot)
            let text: String
            switch action {
            case .start:
                text = "\(name) started: \(up) of \(record.desiredInstances) wanted instances of \(version) were up"
            case .restart(_, let crashes):
                let failure = if let known = crashLoops[action.slot]?.failure { known } else { await why(action.slot) }
                text = "\(name) started again after its back-off (crash \(crashes): \(failure))"
                crashLoops[action.slot] = nil
            case .stop:
                text = "\(name) stopped: \(up) instances of \(version) were up, \(record.desiredInstances) wanted"
            case .forget:
                text = "\(name) cleared: it failed and is not wanted (\(record.desiredInstances) instances)"
                crashLoops[action.slot] = nil
            }
            try await store.record("reconcile", service: service, text)
            logger.notice("reconciling", metadata: ["service": "\(service)", "action": "\(text)"])
        }
        await owner.setBackoff(backoff, crashLoops: crashLoops)
        await withTaskGroup(of: Void.self) { group in
            for action in plan.actions {
                let name = unit(action.slot)
                group.addTask {
                    do {
                        switch action {
                        case .start, .restart:
                            try? await self.systemd.resetFailed(name)
                            // systemd reports the outcome by signal; waiting on a slow start holds the service's changes back.
                            try await withDeadline(.seconds(10)) { try await self.systemd.startUnit(name) }
                        case .stop:
                            try await self.systemd.stopUnit(name)
                        case .forget:
                            try await self.systemd.resetFailed(name)
                        }
                    } catch is CancellationError {
                    } catch {
                        self.logger.warning("reconcile action failed", metadata: ["unit": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }
        await owner.touched(plan.actions.map { unit($0.slot) })
    }

    /// Stops the instances of a `listen` service that restarted as often as its start limit
    /// allows (the agent keeps that limit for them: `RestartLimit`), and returns why each
    /// stopped, by unit; the back-off then takes over as for an instance systemd gave up on.
    private func stopInstancesOverRestartLimit(_ owner: ServiceOwner, units: [UnitStatus], spec: ServiceSpec?,
                                               now: Duration) async throws -> [String: String] {
        guard let spec, spec.listen != nil else { return [:] }
        let policy = spec.restart
        var stopped: [String: String] = [:]
        for status in await owner.overRestartLimit(units, policy: policy, now: now) {
            try await systemd.stopUnit(status.name)
            stopped[status.name] = "restarted \(policy.burst) times within \(policy.intervalSeconds) s, its start limit; last: \(Self.failure(of: status))"
        }
        if !stopped.isEmpty { await owner.touched(Array(stopped.keys)) }
        return stopped
    }

    /// Rewrites the service's unit files that are missing or differ from what its releases
    /// render (deleted or edited behind the agent's back), and the live-resize drop-ins.
    /// Returns whether anything was written (then systemd must reload).
    func repairUnitFiles(of record: StateStore.ServiceRecord, reportUnrestorable: Bool) async throws -> Bool {
        let service = record.name
        var changed = false
        let releases = try await store.releases(of: service)
        for release in releases {
            let unit = UnitNames.template(service, release.version)
            let rendered: UnitFiles.Rendered
            do {
                rendered = try units.render(release.spec, service: service, version: release.version)
            } catch {
                // A spec stored under looser checks than today's: the release stays as it is
                // on disk, and the operator is told; the agent goes on regardless.
                logger.error("cannot restore a unit file; its release's stored spec is refused", metadata: ["unit": "\(unit)", "error": "\(error)"])
                if reportUnrestorable {
                    try? await store.record("unit.unrestorable", service: service,
                                      "\(unit) cannot be rendered again: \(error); deploy a new release")
                }
                continue
            }
            // The slice and socket units are shared by the service's releases; each upload writes
            // them, so they are what the newest release renders.
            let templateOnly = release.version != releases.last?.version
            let drifted = try units.restore(rendered, service: service, version: release.version, templateOnly: templateOnly)
            if !drifted.isEmpty {
                try await store.record("unit.restored", service: service,
                                 "\(drifted.joined(separator: ", ")) missing or not as release \(release.version) renders it (deleted or edited behind the agent's back, or written by an older agent); rewritten")
                logger.warning("restored unit files deleted or changed behind the agent's back", metadata: ["units": "\(drifted)"])
                changed = true
            }
            // A live resize recorded but not (fully) written, or its drop-in removed.
            if let limits = record.instanceLimits,
               try units.writeLimitsDropIn(Self.limitsDropIn(release.spec, limits, service: service), service: service, version: release.version) {
                changed = true
            }
        }
        return changed
    }
}
