import ArgumentParser
import DroverAPI
import DroverClient
import Foundation

extension Drover {
    struct Scale: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run N instances of a service's current release on each of its hosts.",
            discussion: "While a service autoscales, the count is kept within the policy's bounds (the answer says so).\n\nExample:\n  drover scale web 4")

        @OptionGroup var global: GlobalOptions
        @Option(name: [.customShort("m"), .long], help: "Why, for other operators (shown while the scale holds the service).") var message: String?
        @Argument(help: "The service.") var service: String
        @Argument(help: "Instances per host.") var instances: Int

        func validate() throws {
            guard (0...10_000).contains(instances) else { throw ValidationError("instances must be from 0 to 10000, not \(instances)") }
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let count = instances
            let results = try await ServiceLease.holding("scale", service: name, hosts: hosts, context: context, message: message) { context in
                try await context.eachHost(hosts) { _, client in try await client.scale(name, to: count) }
            }
            if global.json {
                try context.printJSON(results.map { HostReport($0.host.name, $0.result) })
            } else {
                var table = Table(columns: ["HOST", "RESULT", "RUNNING", "NOTE"])
                for (host, result) in results {
                    switch result {
                    case .success(let scaled):
                        let active = scaled.instances.filter { $0.state == .running }.count
                        table.rows.append([host.name, "scaled", "\(active)/\(scaled.desiredInstances)", scaled.note ?? ""])
                    case .failure(let error):
                        table.rows.append([host.name, error.category.rawValue, "-", error.message])
                    }
                }
                terminal.print(table.render())
            }
            try context.finish(results)
        }
    }
}
