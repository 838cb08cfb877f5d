import DroverCore
import DroverSystemd

extension ServiceRunner {
    /// Stops every instance, removes the service's units, releases, slots and records, and
    /// ends the runner's loops. The event log keeps a line saying it happened.
    func delete() async throws {
        _ = try await record()
        // A running rollout stops first (and is waited for), so it cannot start an instance
        // after its units are gone; then the removal runs as the service's last change.
        await stopRollout()
        do {
            try await exclusively {
                let (store, systemd, service) = (context.store, context.systemd, name)
                let releases = try await context.store.releases(of: service)
                _ = try await record()
                let loaded = try await systemd.listUnits(matching: [UnitNames.instancePattern(service)])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for unit in loaded {
                        group.addTask {
                            try await systemd.stopUnit(unit.name)
                            try? await systemd.resetFailed(unit.name)
                        }
                    }
                    try await group.waitForAll()
                }
                for unit in [UnitNames.socketHolder(service), UnitNames.socket(service)] {
                    try? await systemd.stopUnit(unit)
                }
                for release in releases {
                    try await context.units.removeTemplate(service, release.version)
                }
                try await context.units.removeSlice(service)
                try await systemd.reload()
                try await context.files.removeService(service)
                await SecretFiles(files: context.files, scope: context.configuration.scope).removeAll(service)
                try await store.deleteService(service)
                try await store.record("service.deleted", service: service, "service deleted: instances stopped, units, releases and secrets removed")
                await markDeleted()
                context.logger.info("service deleted", metadata: ["service": "\(service)"])
            }
        } catch {
            // Not deleted after all: the runner goes on (the operator can try again).
            resumeAfterFailedDelete()
            throw error
        }
    }
}
