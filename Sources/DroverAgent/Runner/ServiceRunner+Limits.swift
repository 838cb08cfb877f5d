import DroverAPI
import DroverCore
import DroverSystemd

extension ServiceRunner {
    /// Resizes every instance live, without a restart: running instances get the new
    /// CPUQuota/MemoryMax through systemd at once (`SetUnitProperties`), and a drop-in on every
    /// release's template gives them to instances started later (scale-ups, restarts,
    /// rollouts, releases uploaded afterwards). Recorded first, so it survives the agent. A
    /// limit left out keeps each release's own.
    func setLimits(_ limits: InstanceLimits) async throws -> InstanceLimitsInfo {
        try await exclusively {
            _ = try await record()
            try await context.store.setInstanceLimits(limits, of: name, event: "limits.set", "instances resized live: \(LiveResize.describe(limits))")
            try await LiveResize(context: context, service: name).apply(limits)
            context.logger.info("instances resized", metadata: ["service": "\(name)", "limits": "\(LiveResize.describe(limits))"])
            return InstanceLimitsInfo(service: name, limits: limits, instances: try await instances())
        }
    }

    /// Ends a live resize: every instance goes back to its release's limits, again without a restart.
    func removeLimits() async throws {
        try await exclusively {
            guard try await record().instanceLimits != nil else {
                throw LimitsError(.notResized, "\(name) has no live resize (PUT …/limits to make one)")
            }
            try await context.store.setInstanceLimits(nil, of: name, event: "limits.removed", "live resize removed: instances run with their releases' limits")
            try await LiveResize(context: context, service: name).apply(nil)
        }
    }

    func limits() async throws -> InstanceLimitsInfo {
        InstanceLimitsInfo(service: name, limits: try await record().instanceLimits, instances: try await instances())
    }
}

/// A live resize carried out: each release's drop-in written, systemd reloaded, then the
/// running instances changed.
struct LiveResize {
    let context: AgentContext
    let service: ServiceName

    func apply(_ limits: InstanceLimits?) async throws {
        let (store, systemd, units, service) = (context.store, context.systemd, context.units, self.service)
        let releases = try await store.releases(of: service)
        for release in releases {
            _ = try await units.writeLimitsDropIn(Self.dropIn(release.spec, limits, service: service), service: service, version: release.version)
        }
        try await systemd.reload()
        let specs = Dictionary(releases.map { ($0.version, $0.spec.resources) }, uniquingKeysWith: { first, _ in first })
        let running = try await systemd.listUnits(matching: [UnitNames.instancePattern(service)])
            .filter { $0.state == .running || $0.state == .starting }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for unit in running {
                guard let parsed = UnitNames.parseInstance(unit.name), let spec = specs[parsed.version] else { continue }
                let effective = limits?.applied(to: spec) ?? spec
                group.addTask {
                    try await systemd.setProperties(of: unit.name, [
                        .cpuQuota(percent: effective.cpuPercent.map { Double($0) }),
                        .memoryMax(bytes: effective.memoryBytes),
                    ])
                }
            }
            try await group.waitForAll()
        }
    }

    /// The drop-in text for a release: its spec's limits with the resize applied.
    static func dropIn(_ spec: ServiceSpec, _ limits: InstanceLimits?, service: ServiceName) -> String {
        UnitRenderer.limitsDropIn(limits?.applied(to: spec.resources) ?? spec.resources, service: service, resized: limits != nil)
    }

    static func describe(_ limits: InstanceLimits) -> String {
        [limits.cpuPercent.map { "CPUQuota \($0)%" }, limits.memoryBytes.map { "MemoryMax \($0 >> 20) MiB" }]
            .compactMap { $0 }.joined(separator: ", ")
    }
}
