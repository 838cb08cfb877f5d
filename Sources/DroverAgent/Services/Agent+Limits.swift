import DroverAPI
import DroverCore
import DroverSystemd
import Foundation

extension Agent {
    /// Resizes every instance of the service live, without a restart: running instances get
    /// the new CPUQuota/MemoryMax through systemd at once (`SetUnitProperties`), and a drop-in
    /// on every release's template gives them to instances started later (scale-ups,
    /// restarts, rollouts, releases uploaded afterwards). Recorded first, so it survives the
    /// agent. A limit left out keeps each release's own.
    public func setLimits(_ service: ServiceName, _ limits: InstanceLimits) async throws -> InstanceLimitsInfo {
        do {
            try limits.validate()
        } catch {
            throw LimitsError(.invalidLimits, "limits \(error)")
        }
        // Checked before the owner is made: an unknown service gets no owner (nor its reconciler).
        _ = try await existing(service)
        return try await owner(of: service).exclusively {
            _ = try await self.existing(service)
            try await self.store.setInstanceLimits(limits, of: service, event: "limits.set", "instances resized live: \(Self.describe(limits))")
            try await self.applyLimits(service, limits)
            self.logger.info("instances resized", metadata: ["service": "\(service)", "limits": "\(Self.describe(limits))"])
            return InstanceLimitsInfo(service: service, limits: limits, instances: try await self.instances(of: service))
        }
    }

    /// Ends a live resize: every instance goes back to its release's limits, again without a restart.
    public func deleteLimits(_ service: ServiceName) async throws {
        _ = try await existing(service)
        try await owner(of: service).exclusively {
            guard try await self.existing(service).instanceLimits != nil else {
                throw LimitsError(.notResized, "\(service) has no live resize (PUT …/limits to make one)")
            }
            try await self.store.setInstanceLimits(nil, of: service, event: "limits.removed", "live resize removed: instances run with their releases' limits")
            try await self.applyLimits(service, nil)
        }
    }

    public func limits(of service: ServiceName) async throws -> InstanceLimitsInfo {
        await InstanceLimitsInfo(service: service, limits: try existing(service).instanceLimits, instances: try await instances(of: service))
    }

    /// Writes each release's limits drop-in, reloads, then changes the running instances.
    func applyLimits(_ service: ServiceName, _ limits: InstanceLimits?) async throws {
        let releases = try await store.releases(of: service)
        for release in releases {
            try units.writeLimitsDropIn(Self.limitsDropIn(release.spec, limits, service: service), service: service, version: release.version)
        }
        try await systemd.reload()
        let specs = Dictionary(releases.map { ($0.version, $0.spec.resources) }, uniquingKeysWith: { first, _ in first })
        let running = try await systemd.listUnits(matching: [UnitNames.instancePattern(service)])
            .filter { ["active", "activating", "reloading"].contains($0.activeState) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for unit in running {
                guard let parsed = UnitNames.parseInstance(unit.name), let spec = specs[parsed.version] else { continue }
                let effective = limits?.applied(to: spec) ?? spec
                group.addTask {
                    try await self.systemd.setProperties(of: unit.name, [
                        .cpuQuota(percent: effective.cpuPercent.map { Double($0) }),
                        .memoryMax(bytes: effective.memoryBytes),
                    ])
                }
            }
            try await group.waitForAll()
        }
    }

    /// The drop-in text for a release: its spec's limits with the resize applied.
    static func limitsDropIn(_ spec: ServiceSpec, _ limits: InstanceLimits?, service: ServiceName) -> String {
        UnitRenderer.limitsDropIn(limits?.applied(to: spec.resources) ?? spec.resources, service: service, resized: limits != nil)
    }

    static func describe(_ limits: InstanceLimits) -> String {
        [limits.cpuPercent.map { "CPUQuota \($0)%" }, limits.memoryBytes.map { "MemoryMax \($0 >> 20) MiB" }]
            .compactMap { $0 }.joined(separator: ", ")
    }
}
