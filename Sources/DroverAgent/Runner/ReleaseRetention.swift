import DroverCore
import DroverSystemd

/// Keeps the newest `keep_releases` releases of a service and its current one; removes the
/// rest, with their units. A release an instance still runs is kept too.
struct ReleaseRetention {
    let context: AgentContext
    let service: ServiceName

    func collect() async throws {
        let (store, systemd, configuration) = (context.store, context.systemd, context.configuration)
        guard let current = try await store.service(service)?.currentVersion else { return }
        let releases = try await store.releases(of: service)
        let keep = Set(releases.suffix(configuration.keepReleases).map(\.version)).union([current])
        let loaded = try await systemd.listUnits(matching: [UnitNames.instancePattern(service)])
        let inUse = Set(loaded.filter { $0.state != .idle }.compactMap { UnitNames.parseInstance($0.name)?.version })
        var removed: [ReleaseVersion] = []
        for release in releases where !keep.contains(release.version) && !inUse.contains(release.version) {
            try await context.units.removeTemplate(service, release.version)
            try await context.files.removeRelease(service, release.version)
            try await store.deleteRelease(service, release.version)
            removed.append(release.version)
        }
        guard !removed.isEmpty else { return }
        let remaining = try await store.releases(of: service).map { (version: $0.version, spec: $0.spec) }
        await SecretFiles(files: context.files, scope: configuration.scope).collect(service, keeping: remaining)
        try await systemd.reload()
        try await store.record("release.removed", service: service, "removed old releases \(removed.map(\.rawValue).joined(separator: ", ")) (keeping \(configuration.keepReleases) and the current)")
    }
}
