import ArgumentParser
import DroverAPI
import DroverClient
import DroverCore
import DroverTOML
import Foundation

extension Drover {
    struct Status: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "What runs where: version, ready/desired instances, CPU, memory, autoscaling and the unit's exposure score, per host.",
            discussion: """
                Unreachable hosts are named on stderr (exit 3); the reachable ones are still shown.

                Example:
                  drover status web --json | jq '.[].value[].instances | length'
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Only this service (default: every service on the hosts).") var service: String?

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try service.map { name throws(InputError) in try context.service(name) }
            let manifest = try name.flatMap { name throws(InputError) in try context.manifest(name, required: false) }
            let hosts = try context.hosts(for: manifest)
            let results = try await context.eachHost(hosts) { _, client -> [ServiceInfo] in
                guard let name else { return try await client.services() }
                do {
                    return [try await client.service(name)]
                } catch let error as AgentClientError where error.code == "unknown_service" {
                    return []
                }
            }
            if global.json {
                try context.printJSON(results.map { HostReport($0.host.name, $0.result) })
            } else {
                var table = Table(columns: ["HOST", "SERVICE", "VERSION", "READY", "CPU", "MEMORY", "AUTOSCALE", "EXPOSURE"])
                for (host, result) in results {
                    let services: [ServiceInfo]
                    switch result {
                    case .success(let value): services = value
                    case .failure(let error):
                        table.rows.append([host.name, "-", "-", error.category.rawValue, "-", "-", "-", "-"])
                        continue
                    }
                    if services.isEmpty { table.rows.append([host.name, name?.rawValue ?? "-", "-", "-", "-", "-", "-", "-"]) }
                    for service in services { table.rows.append(Self.row(host.name, service)) }
                }
                terminal.print(table.render())
                for (host, result) in results {
                    for service in (try? result.get()) ?? [] where service.releases.contains(where: { $0.current && $0.secretStorage == .file }) {
                        terminal.print("note: \(host.name): the secrets of \(service.name) are kept unencrypted (mode 0600): its agent runs a user manager, which cannot decrypt systemd credentials")
                    }
                }
            }
            try context.finish(results)
        }

        static func row(_ host: String, _ service: ServiceInfo) -> [String] {
            let current = service.instances.filter { $0.version == service.currentVersion }
            let ready = current.filter { $0.state == .running }.count
            let failed = service.instances.filter { $0.state == .failed }.count
            let cpu = service.instances.compactMap(\.cpuCores)
            let memory = service.instances.compactMap(\.memoryBytes)
            let autoscale = service.autoscale.map { policy in
                "\(policy.min)-\(policy.max)" + (policy.cpu.map { " cpu \($0)" } ?? "") + (policy.memoryBytes.map { " mem \(Figures.bytes($0))" } ?? "")
            } ?? "-"
            // A deployment under way shows beside the version: a canary waiting, a rollout running.
            let deploying = service.deployment.map { deployment in
                deployment.state == .canary ? " (canary \(deployment.toVersion): drover promote)" : " (\(deployment.state.rawValue) → \(deployment.toVersion))"
            } ?? ""
            return [host, service.name.rawValue, (service.currentVersion?.rawValue ?? "-") + deploying,
                    "\(ready)/\(service.desiredInstances)" + (failed > 0 ? " (\(failed) failed)" : ""),
                    cpu.isEmpty ? "-" : Figures.cores(cpu.reduce(0, +)),
                    // An agent's figures are outside input too: a sum that would overflow stops at the top.
                    memory.isEmpty ? "-" : Figures.bytes(memory.reduce(0) { $0.addingReportingOverflow($1).overflow ? .max : $0 + $1 }),
                    autoscale,
                    // The current release's unit as systemd-analyze security scores it (0 safe, 10 unsafe).
                    service.releases.first(where: \.current)?.exposure.map { String(format: "%.1f", $0) } ?? "-"]
        }
    }
}
