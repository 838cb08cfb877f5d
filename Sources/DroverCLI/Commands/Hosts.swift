import ArgumentParser
import DroverAPI
import DroverClient
import Foundation

extension Drover {
    struct Hosts: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reach every agent of the inventory: address, version, scope, round trip.",
            discussion: "Exits 3 when a host cannot be reached.\n\nExample:\n  drover hosts --hosts web")

        @OptionGroup var global: GlobalOptions

        struct Row: Encodable {
            let address: String
            let version: String
            let scope: String
            let latencyMs: Double
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let hosts = try context.hosts(for: nil)
            let results = try await context.eachHost(hosts) { host, client in
                let clock = ContinuousClock(), start = clock.now
                let health = try await client.health()
                return Row(address: host.baseURL, version: health.version, scope: health.scope.rawValue,
                           latencyMs: ((clock.now - start).seconds * 10_000).rounded() / 10)
            }
            if global.json {
                try context.printJSON(results.map { HostReport($0.host.name, $0.result) })
            } else {
                var table = Table(columns: ["HOST", "ADDRESS", "STATUS", "VERSION", "SCOPE", "ROUND TRIP"])
                for (host, result) in results {
                    switch result {
                    case .success(let row):
                        table.rows.append([host.name, row.address, "ok", row.version, row.scope, String(format: "%.1f ms", row.latencyMs)])
                    case .failure(let error):
                        table.rows.append([host.name, host.baseURL, error.category.rawValue, "-", "-", "-"])
                    }
                }
                terminal.print(table.render())
            }
            try context.finish(results)
        }
    }
}
