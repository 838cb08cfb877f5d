import DroverAPI
import DroverClient
import DroverCore
import Foundation

/// `drover deploy --dry-run`: what the deploy would do on each host, read from the agents and
/// changing nothing (no upload, no lease, no deployment). Like `terraform plan`.
struct DeployPlan: Encodable, Sendable {
    let service: String
    let version: String
    var hosts: [HostPlan]
    /// Whether any reachable host would change.
    var changes: Bool { hosts.contains { $0.reachable && !$0.upToDate } }

    struct HostPlan: Encodable, Sendable {
        let host: String
        var reachable = true
        var error: String?
        var currentVersion: String?
        var targetVersion: String
        /// Whether the host already holds this very release (nothing to upload).
        var holdsRelease = false
        var changes: [SpecDiff.Change] = []
        var instances: Change<Int>?
        var autoscale: Change<AutoscalePolicy>?
        /// Whether the release command would run here.
        var releaseCommand: String?
        /// Someone holding the service now (the deploy would be refused).
        var lease: LeaseInfo?
        var upToDate = false
    }

    struct Change<T: Encodable & Sendable>: Encodable, Sendable {
        let from: T?
        let to: T?
    }

    enum CodingKeys: String, CodingKey { case service, version, hosts, changes }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(service, forKey: .service)
        try c.encode(version, forKey: .version)
        try c.encode(hosts, forKey: .hosts)
        try c.encode(changes, forKey: .changes)
    }

    /// Asks every host what it runs, and compares it with the deploy of `version`, `spec`
    /// and the manifest's instances and autoscaling.
    static func make(_ name: ServiceName, version: ReleaseVersion, digest: ArtifactDigest, spec: ServiceSpec, manifest: Manifest,
                     hosts: [Inventory.Host], context: CommandContext) async throws -> DeployPlan {
        let results = try await context.eachHost(hosts) { _, client -> (ServiceInfo?, LeaseInfo?) in
            let info: ServiceInfo?
            do {
                info = try await client.service(name)
            } catch let error as AgentClientError where error.code == "unknown_service" {
                info = nil
            }
            let lease = try? await client.lease(of: name)
            return (info, lease)
        }
        let ranBefore = results.contains { result in
            if case .success((let info?, _)) = result.result {
                return info.releases.contains { $0.version == version && $0.releaseCommandAt != nil }
            }
            return false
        }
        var plans: [HostPlan] = []
        for (index, (host, result)) in results.enumerated() {
            var plan = HostPlan(host: host.name, targetVersion: version.rawValue)
            switch result {
            case .failure(let error):
                plan.reachable = false
                plan.error = "\(error.category.rawValue): \(error.message)"
            case .success((let info, let lease)):
                plan.lease = lease
                plan.currentVersion = info?.currentVersion?.rawValue
                let current = info?.releases.first { $0.version == info?.currentVersion }
                plan.holdsRelease = info?.releases.contains { $0.version == version && $0.sha256 == digest.hex && $0.spec == spec } ?? false
                plan.changes = SpecDiff.between(current?.spec, spec)
                if info?.desiredInstances != manifest.instances { plan.instances = Change(from: info?.desiredInstances, to: manifest.instances) }
                if let policy = manifest.autoscale, policy != info?.autoscale { plan.autoscale = Change(from: info?.autoscale, to: policy) }
                if let phase = spec.release, !ranBefore, phase.on == .every || index == 0, info?.currentVersion != version {
                    plan.releaseCommand = phase.command.joined(separator: " ")
                }
                plan.upToDate = info?.currentVersion == version && plan.instances == nil && plan.autoscale == nil
            }
            plans.append(plan)
        }
        return DeployPlan(service: name.rawValue, version: version.rawValue, hosts: plans)
    }

    /// The plan for people: a block per host, then a line of totals.
    func render(terminal: Terminal) -> String {
        var lines: [String] = []
        for host in hosts {
            guard host.reachable else {
                lines.append(terminal.styled("\(host.host): ", .red) + "cannot tell: " + (host.error ?? "unreachable"))
                continue
            }
            let header = "\(host.host): \(host.currentVersion ?? "nothing") → \(host.targetVersion)"
            if host.upToDate {
                lines.append(header + terminal.styled("  up to date", .green))
                continue
            }
            lines.append(terminal.styled(header, .bold) + (host.holdsRelease ? "  (holds the release)" : "  (uploads the release)"))
            if let lease = host.lease { lines.append("  " + terminal.styled("refused now: ", .yellow) + lease.sentence) }
            for change in host.changes where change.changed || change.secret != nil {
                if let secret = change.secret {
                    lines.append("  \(change.key): \(secret)")
                } else {
                    lines.append("  \(change.key): \(change.from ?? "(unset)") → \(change.to ?? "(unset)")")
                }
            }
            if let instances = host.instances { lines.append("  instances: \(instances.from.map(String.init) ?? "0") → \(instances.to.map(String.init) ?? "0")") }
            if let autoscale = host.autoscale {
                func words(_ policy: AutoscalePolicy?) -> String {
                    policy.map { "\($0.min)-\($0.max)" + ($0.cpu.map { " cpu \($0)" } ?? "") + ($0.memoryBytes.map { " mem \(Figures.bytes($0))" } ?? "") } ?? "off"
                }
                lines.append("  autoscale: \(words(autoscale.from)) → \(words(autoscale.to))")
            }
            if let command = host.releaseCommand { lines.append("  release command runs here first: \(command)") }
        }
        let changing = hosts.filter { $0.reachable && !$0.upToDate }.count
        let unreachable = hosts.filter { !$0.reachable }.count
        lines.append("")
        lines.append("Plan: \(changing) host\(changing == 1 ? "" : "s") to change, \(hosts.count - changing - unreachable) up to date"
                     + (unreachable > 0 ? ", \(unreachable) unreachable" : "") + ". Nothing was changed.")
        return lines.joined(separator: "\n")
    }
}
