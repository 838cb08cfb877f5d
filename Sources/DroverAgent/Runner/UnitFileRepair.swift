import DroverCore

/// Rewrites a service's unit files that are missing or differ from what its releases render
/// (deleted or edited behind the agent's back, or written by an older agent), and the
/// live-resize drop-ins: at the agent's start, and on every reconciler's full pass.
struct UnitFileRepair {
    let context: AgentContext

    /// Returns whether anything was written (then systemd must reload).
    func repair(_ record: StateStore.ServiceRecord, reportUnrestorable: Bool) async throws -> Bool {
        let (store, units, logger, service) = (context.store, context.units, context.logger, record.name)
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
            let drifted = try await units.restore(rendered, service: service, version: release.version, templateOnly: templateOnly)
            if !drifted.isEmpty {
                try await store.record("unit.restored", service: service,
                                       "\(drifted.joined(separator: ", ")) missing or not as release \(release.version) renders it (deleted or edited behind the agent's back, or written by an older agent); rewritten")
                logger.warning("restored unit files deleted or changed behind the agent's back", metadata: ["units": "\(drifted)"])
                changed = true
            }
            // A live resize recorded but not (fully) written, or its drop-in removed.
            if let limits = record.instanceLimits,
               try await units.writeLimitsDropIn(LiveResize.dropIn(release.spec, limits, service: service), service: service, version: release.version) {
                changed = true
            }
        }
        return changed
    }
}
