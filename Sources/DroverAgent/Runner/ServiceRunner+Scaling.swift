import DroverAPI
import DroverCore
import DroverSystemd

extension ServiceRunner {
    /// A scale asked for by an operator. While the service autoscales, the count is kept
    /// within the policy's bounds, the answer says so, and the count holds for the policy's
    /// down window before load may lower it.
    func scaleByHand(to requested: Int) async throws -> ScaleResult {
        var count = requested
        var note: String?
        if let policy = autoscale?.policy {
            count = min(max(requested, policy.min), policy.max)
            let bounds = "autoscaling is on (min \(policy.min), max \(policy.max))"
            note = count == requested
                ? "\(bounds): the autoscaler keeps this count for at least \(policy.scaleDownStabilization.seconds) s before load lowers it"
                : "\(bounds): set \(count) instead of \(requested); turn autoscaling off (DELETE /v1/services/\(name)/autoscale) to choose any count"
        }
        let instances = try await scale(to: count, event: "scale", because: note.map { "by hand; \($0)" } ?? "by hand")
        _ = updateAutoscale { $0.manuallyScaled(to: count) }
        return ScaleResult(requested: requested, desiredInstances: count, note: note, instances: instances)
    }

    /// Runs `count` instances of the service's current release. Instances that run are kept
    /// (never restarted); missing ones start at once in the lowest free slots; surplus ones
    /// stop, highest slot first, gracefully. Returns once every instance is started, or
    /// reports which did not start and why. The event log says who asked and why.
    func scale(to count: Int, event kind: String, because reason: String) async throws -> [InstanceInfo] {
        try await exclusively {
            let (store, systemd, service) = (context.store, context.systemd, name)
            let record = try await record()
            guard let version = record.currentVersion else {
                throw ScaleError(.noRelease, "\(service) has no current release to run")
            }
            if let running = await rollingDeployment {
                throw ScaleError(.deploymentRunning, "deployment \(running) of \(service) is running; scale once it ends (or deploy with the count you want)")
            }
            // A socket that cannot listen refuses the scale before anything is recorded.
            if count > 0, let spec = try await store.release(service, version)?.spec {
                try await SharedSocket(context: context, service: service).ensure(for: spec)
            }
            // Intent first: a crash from here on leaves the wanted count recorded.
            try await store.setDesiredInstances(count, of: service)
            try await store.record(kind, service: service, "instances \(record.desiredInstances) → \(count) (release \(version)): \(reason)")
            // A count chosen on purpose: crashed slots start over, without back-off.
            await forgetCrashes()

            let loaded = try await systemd.listUnits(matching: [UnitNames.instancePattern(service)]).filter { $0.state != .idle }
            let existing = loaded.compactMap { unit in UnitNames.parseInstance(unit.name).map { (unit: unit, slot: $0.slot, version: $0.version) } }
            let current = existing.filter { $0.version == version }.sorted { $0.slot < $1.slot }
            for surplus in current.dropFirst(count).reversed() {
                try await systemd.stopUnit(surplus.unit.name)
                await view.touched([surplus.unit.name])
            }
            var used = Set(existing.map(\.slot))
            var wanted = current.prefix(count).map { UnitNames.instance(service, version, slot: $0.slot) }
            while wanted.count < count {
                let slot = (1...).first { !used.contains($0) }!
                used.insert(slot)
                wanted.append(UnitNames.instance(service, version, slot: slot))
            }
            try await prepareSlots(upTo: used.max() ?? 0)

            let failed = Set(loaded.filter { $0.state == .failed }.map(\.name))
            let failures = try await start(wanted, failed: failed)
            await view.touched(wanted)
            if !failures.isEmpty {
                let text = failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
                try await store.record("scale.failed", service: service, text)
                throw ScaleError(.instancesFailed, "\(failures.count) of \(count) instances did not start: \(text)")
            }
            return try await instances()
        }
    }

    /// Starts `units` concurrently; returns the reason for each that did not start.
    private func start(_ units: [String], failed: Set<String>) async throws -> [String: String] {
        let (systemd, journal) = (context.systemd, context.journal)
        return try await withThrowingTaskGroup(of: (String, String?).self) { group in
            for unit in units {
                group.addTask {
                    do {
                        if failed.contains(unit) { try await systemd.resetFailed(unit) }
                        try await systemd.startUnit(unit)
                        return (unit, nil)
                    } catch let error as SystemdError {
                        let status = try? await systemd.status(of: unit)
                        return (unit, await journal.withLastLines(status.map(InstanceFailure.describe) ?? error.message, of: unit))
                    }
                }
            }
            var failures: [String: String] = [:]
            for try await (unit, failure) in group {
                if let failure { failures[unit] = failure }
            }
            return failures
        }
    }
}
