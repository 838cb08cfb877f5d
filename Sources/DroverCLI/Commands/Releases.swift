import ArgumentParser
import DroverAPI
import DroverClient
import Foundation

extension Drover {
    struct Releases: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "The releases each host keeps of a service (any of them can be rolled back to).",
            discussion: "Example:\n  drover releases web")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let results = try await context.eachHost(hosts) { _, client in try await client.releases(of: name) }
            if global.json {
                try context.printJSON(results.map { HostReport($0.host.name, $0.result) })
            } else {
                var table = Table(columns: ["HOST", "VERSION", "CURRENT", "KIND", "SIZE", "UPLOADED"])
                for (host, result) in results {
                    for release in (try? result.get()) ?? [] {
                        table.rows.append([host.name, release.version.rawValue, release.current ? "*" : "", release.kind,
                                           Figures.bytes(UInt64(max(0, release.size))), release.createdAt.formatted(.iso8601)])
                    }
                }
                terminal.print(table.render())
            }
            try context.finish(results)
        }
    }
}
