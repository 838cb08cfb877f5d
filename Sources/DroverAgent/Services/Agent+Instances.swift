import DroverAPI
import DroverCore
import DroverSystemd
import Foundation

extension Agent {
    /// A scale asked for by an operator. While the service autoscales, the count is kept
    /// within the policy's bounds, the answer says so, and the count holds for the policy's
    /// down window before load may lower it.
    public func scale(_ service: ServiceName, to requested: Int) async throws -> ScaleResult {
        guard (0...configuration.maxInstances).contains(requested) else {
            throw ScaleError(.invalidCount, "instances must be between 0 and \(configuration.maxInstances) (max_instances), not \(requested)")
        }
        _ = try await existing(service)
        var count = requested
        var note: String?
        let owner = await owner(of: service)
        if let policy = await owner.autoscale?.policy {
            count = min(max(requested, policy.min), policy.max)
            let bounds = "autoscaling is on (min \(policy.min), max \(policy.max))"
            note = count == requested
                ? "\(bounds): the autoscaler keeps this count for at least \(policy.scaleDownStabilization.seconds) s before load lowers it"
                : "\(bounds): set \(count) instead of \(requested); turn autoscaling off (DELETE /v1/services/\(service)/autoscale) to choose any count"
        }
        let instances = try await scale(service, to: count, event: "scale", because: note.map { "by hand; \($0)" } ?? "by hand")
        await owner.updateAutoscale { $0.manuallyScaled(to: count) }
        return ScaleResult(requested: requested, desiredInstances: count, note: note, instances: instances)
    }

    /// Runs `count` instances of the service's current release. Instances that run are kept
    /// (never restarted); missing ones start at once in the lowest free slots; surplus ones
    /// stop, highest slot first, gracefully. Returns once every instance is started, or
    /// reports which did not start and why. The event log says who asked and why.
    func scale(_ service: ServiceName, to count: Int, event kind: String, because reason: String) async throws -> [InstanceInfo] {
        let owner = await owner(of: service)
        return try await owner.exclusively {
            let record = try await self.existing(service)
            guard let version = record.currentVersion else {
                throw ScaleError(.noRelease, "\(service) has no current release to run")
            }
            if let running = await owner.rollout?.id {
                throw ScaleError(.deploymentRunning, "deployment \(running) of \(service) is running; scale once it ends (or deploy with the count you want)")
            }
            // A socket that cannot listen refuses the scale before anything is recorded.
            if count > 0, let spec = try await self.store.release(service, version)?.spec { try await self.ensureSocket(service, spec: spec) }
            // Intent first: a crash from here on leaves the wanted count recorded.
            try await self.store.setDesiredInstances(count, of: service)
            try await self.store.record(kind, service: service, "instances \(record.desiredInstances) → \(count) (release \(version)): \(reason)")
            // A count chosen on purpose: crashed slots start over, without back-off.
            await owner.forgetCrashes()

            let loaded = try await self.systemd.listUnits(matching: [UnitNames.instancePattern(service)])
                .filter(\.isInUse)
            let existing = loaded.compactMap { unit in UnitNames.parseInstance(unit.name).map { (unit: unit, slot: $0.slot, version: $0.version) } }
            let current = existing.filter { $0.version == version }.sorted { $0.slot < $1.slot }
            for surplus in current.dropFirst(count).reversed() {
                try await self.systemd.stopUnit(surplus.unit.name)
                await owner.touched([surplus.unit.name])
            }
            var used = Set(existing.map(\.slot))
            var wanted = current.prefix(count).map { UnitNames.instance(service, version, slot: $0.slot) }
            while wanted.count < count {
                let slot = (1...).first { !used.contains($0) }!
                used.insert(slot)
                wanted.append(UnitNames.instance(service, version, slot: slot))
            }
            let ports = try await self.store.ports(of: service, slots: used.max() ?? 0, range: self.configuration.portRange)
            try self.files.writeSlotEnvironment(service, ports: ports)

            let failures = try await self.start(wanted, loaded: loaded)
            await owner.touched(wanted)
            if !failures.isEmpty {
                let text = failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
                try await self.store.record("scale.failed", service: service, text)
                throw ScaleError(.instancesFailed, "\(failures.count) of \(count) instances did not start: \(text)")
            }
            return try await self.instances(of: service)
        }
    }

    /// Starts `units` concurrently; returns the reason for each that did not start.
    private func start(_ units: [String], loaded: [UnitListEntry]) async throws -> [String: String] {
        try await withThrowingTaskGroup(of: (String, String?).self) { group in
            for unit in units {
                let wasFailed = state(of: unit, in: loaded) == "failed"
                group.addTask {
                    do {
                        if wasFailed { try await self.systemd.resetFailed(unit) }
                        try await self.systemd.startUnit(unit)
                        return (unit, nil)
                    } catch let error as SystemdError {
                        let status = try? await self.systemd.status(of: unit)
                        return (unit, await self.journal.withLastLines(status.map(Self.failure(of:)) ?? error.message, of: unit))
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

    /// For a service that `listen`s: its shared socket and the socket's holder must run before
    /// any instance starts (instances inherit the socket; the holder keeps it from activating).
    /// A socket that cannot listen (the port is taken, the address is not this host's) fails
    /// the request that needed it, saying so, and is reset so that a later try starts clean.
    func ensureSocket(_ service: ServiceName, spec: ServiceSpec) async throws {
        guard let listen = spec.listen else { return }
        let socket = UnitNames.socket(service), holder = UnitNames.socketHolder(service)
        do {
            do {
                try await systemd.startUnit(socket)
            } catch let error as SystemdError where error.code == .jobFailed {
                // A socket stopped behind the agent's back leaves its port held by the holder,
                // which inherited it: with no instance running, a new holder lets it listen again.
                guard (try? await runningInstances(of: service)) == 0 else { throw error }
                try? await systemd.resetFailed(socket)
                try await systemd.stopUnit(holder)
                try await systemd.startUnit(socket)
            }
        } catch let error as SystemdError {
            try? await systemd.resetFailed(socket)
            let cause = error.code == .jobFailed ? "systemd could not bind it" : error.message
            try? await store.record("socket.failed", service: service, "\(socket) could not listen on \(listen): \(cause)")
            // Instances that still run hold the socket they inherited: then the port is the
            // service's own, and another address would not help.
            let running = (try? await runningInstances(of: service)) ?? 0
            let advice = running > 0
                ? "its \(running) running instance(s) still hold the port they inherited before \(socket) stopped (was it stopped by hand?); "
                    + "scale \(service) to 0 and back to listen anew"
                : "is another process using that port, or is the address not one of this host's? Deploy a release with another listen address"
            throw ScaleError(.socketFailed, "\(service)'s shared socket could not listen on \(listen) (\(cause)): \(advice)")
        }
        try await systemd.startUnit(holder)
    }

    private func runningInstances(of service: ServiceName) async throws -> Int {
        try await systemd.listUnits(matching: [UnitNames.instancePattern(service)], states: ["active", "activating", "deactivating", "reloading"]).count
    }

    private func state(of unit: String, in loaded: [UnitListEntry]) -> String {
        loaded.first { $0.name == unit }?.activeState ?? "inactive"
    }

    /// Stops every instance, removes the service's units, releases, slots and records. The
    /// event log keeps a line saying it happened.
    public func delete(_ service: ServiceName) async throws {
        _ = try await existing(service)
        let owner = await owner(of: service)
        // A running rollout stops first (and is waited for), so it cannot start an instance
        // after its units are gone; then the removal runs as the service's last change.
        await owner.cancelRollout()
        try await owner.exclusively {
            _ = try await self.existing(service)
            await owner.markDeleted()
            let loaded = try await self.systemd.listUnits(matching: [UnitNames.instancePattern(service)])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for unit in loaded {
                    group.addTask {
                        try await self.systemd.stopUnit(unit.name)
                        try? await self.systemd.resetFailed(unit.name)
                    }
                }
                try await group.waitForAll()
            }
            for unit in [UnitNames.socketHolder(service), UnitNames.socket(service)] {
                try? await self.systemd.stopUnit(unit)
            }
            for release in try await self.store.releases(of: service) {
                self.units.removeTemplate(service, release.version)
            }
            self.units.removeSlice(service)
            try await self.systemd.reload()
            self.files.removeService(service)
            try await self.store.deleteService(service)
            try await self.store.record("service.deleted", service: service, "service deleted: instances stopped, units and releases removed")
            await self.owners.remove(owner)
            self.logger.info("service deleted", metadata: ["service": "\(service)"])
        }
        // Outside the section: a reconcile pass queued behind it sees the service deleted.
        await owner.stop()
    }
}
