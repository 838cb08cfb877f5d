import DroverAPI
import DroverCore
import DroverSystemd

/// The reconciler: what a service's runner does when systemd signals a change of its units,
/// on the slow tick, and at start. It converges systemd to what the store wants, with the
/// pure `ReconcilePlanner` deciding, and records every action with its reason.
///
///     signal / tick / start ──▶ runner ──▶ [exclusive] read view ─▶ plan ─▶ act ─▶ record
///
/// It stands back while a rollout runs (the rollout owns the count until it ends) and once
/// the service is deleted.
struct Reconciler {
    let runner: ServiceRunner

    private var context: AgentContext { runner.context }
    private var service: ServiceName { runner.name }

    func pass() async {
        do {
            try await runner.exclusively {
                guard await runner.phase == .idle, let record = try await context.store.service(service) else { return }
                if await runner.takeFullPass() {
                    if try await UnitFileRepair(context: context).repair(record, reportUnrestorable: false) { try await context.systemd.reload() }
                }
                try await converge(record)
            }
        } catch {
            context.logger.warning("reconcile pass failed; the next signal or tick tries again",
                                   metadata: ["service": "\(service)", "error": "\(error)"])
        }
    }

    /// Brings the instance count of the current release to the wanted one.
    private func converge(_ record: StateStore.ServiceRecord) async throws {
        let (store, journal, epoch, service) = (context.store, context.journal, context.epoch, self.service)
        guard let version = record.currentVersion else { return }
        let units = await runner.view.instanceUnits()
        var byName: [String: UnitStatus] = [:]
        var observed: [ReconcilePlanner.Observed] = []
        for status in units {
            guard let parsed = UnitNames.parseInstance(status.name) else { continue }
            byName[status.name] = status
            observed.append(.init(slot: parsed.slot, version: parsed.version, state: status.state))
        }
        let now = ContinuousClock.now - epoch
        let spec = try await store.release(service, version)?.spec
        let overLimit = try await stopInstancesOverRestartLimit(units.filter { byName[$0.name] != nil }, spec: spec, now: now)
        for index in observed.indices where overLimit[UnitNames.instance(service, observed[index].version, slot: observed[index].slot)] != nil {
            observed[index].state = .failed
        }
        var backoff = await runner.backoff
        let before = backoff
        let plan = ReconcilePlanner.plan(wanted: .init(version: version, count: record.desiredInstances), observed: observed,
                                         backoff: &backoff, now: now)
        var crashLoops = await runner.crashLoops
        func unit(_ slot: Int) -> String { UnitNames.instance(service, version, slot: slot) }
        func why(_ slot: Int) async -> String {
            await journal.withLastLines(overLimit[unit(slot)] ?? byName[unit(slot)].map(InstanceFailure.describe) ?? "stopped by itself", of: unit(slot))
        }
        // A crash seen for the first time is recorded with its reason and the wait before the next try.
        for (slot, nextTry) in plan.waiting where before[slot]?.awaitingRestart != true {
            let failure = await why(slot)
            let crashes = backoff[slot]?.crashes ?? 1
            crashLoops[slot] = (failure, epoch + nextTry)
            let wait = Int(((nextTry - now) / .seconds(1)).rounded(.up))
            try await store.record("instance.crashed", service: service,
                                   "\(unit(slot)) crashed (\(failure)); starting it again in \(wait) s (crash \(crashes); the wait doubles up to 5 min)")
            context.logger.warning("instance crashed; starting it again after a back-off",
                                   metadata: ["unit": "\(unit(slot))", "failure": "\(failure)", "seconds": "\(wait)"])
        }
        await runner.setBackoff(backoff, crashLoops: crashLoops)
        await runner.reconcileAgain(at: plan.retryAt.map { epoch + $0 })
        guard !plan.actions.isEmpty else { return }

        if plan.actions.contains(where: { if case .stop = $0 { false } else if case .forget = $0 { false } else { true } }) {
            if let spec { try await SharedSocket(context: context, service: service).ensure(for: spec) }
            let highest = (plan.actions.map(\.slot) + observed.map(\.slot)).max() ?? 0
            try await runner.prepareSlots(upTo: highest)
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
            context.logger.notice("reconciling", metadata: ["service": "\(service)", "action": "\(text)"])
        }
        await runner.setBackoff(backoff, crashLoops: crashLoops)
        let (systemd, logger) = (context.systemd, context.logger)
        await withTaskGroup(of: Void.self) { group in
            for action in plan.actions {
                let name = unit(action.slot)
                group.addTask {
                    do {
                        switch action {
                        case .start, .restart:
                            try? await systemd.resetFailed(name)
                            // systemd reports the outcome by signal; waiting on a slow start holds the service's changes back.
                            try await withDeadline(.seconds(10)) { try await systemd.startUnit(name) }
                        case .stop:
                            try await systemd.stopUnit(name)
                        case .forget:
                            try await systemd.resetFailed(name)
                        }
                    } catch is CancellationError {
                    } catch {
                        logger.warning("reconcile action failed", metadata: ["unit": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }
        await runner.view.touched(plan.actions.map { unit($0.slot) })
    }

    /// Stops the instances of a `listen` service that restarted as often as its start limit
    /// allows (the agent keeps that limit for them: `RestartLimit`), and returns why each
    /// stopped, by unit; the back-off then takes over as for an instance systemd gave up on.
    private func stopInstancesOverRestartLimit(_ units: [UnitStatus], spec: ServiceSpec?, now: Duration) async throws -> [String: String] {
        guard let spec, spec.listen != nil else { return [:] }
        let policy = spec.restart
        var stopped: [String: String] = [:]
        for status in await runner.overRestartLimit(units, policy: policy, now: now) {
            try await context.systemd.stopUnit(status.name)
            stopped[status.name] = "restarted \(policy.burst) times within \(policy.intervalSeconds) s, its start limit; last: \(InstanceFailure.describe(status))"
        }
        if !stopped.isEmpty { await runner.view.touched(Array(stopped.keys)) }
        return stopped
    }
}
