import ArgumentParser
import DroverAPI
import DroverClient
import Foundation

extension Drover {
    struct History: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "What happened to a service on each host, and who did it: deployments, scaling, autoscaling decisions, with their reasons.",
            discussion: "Example:\n  drover history web -n 50")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Option(name: [.customShort("n"), .customLong("lines")], help: "How many events per host.") var lines: Int = 30

        struct HostEvent: Encodable {
            let host: String
            let id: Int64
            let time: Date
            let kind: String
            let message: String
            /// The token whose request made the change, and its client; absent for the agent's own doing.
            let by: String?
            let from: String?
        }

        func validate() throws {
            guard (1...10_000).contains(lines) else { throw ValidationError("-n must be from 1 to 10000") }
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let limit = lines
            let results = try await context.eachHost(hosts) { _, client in try await client.events(of: name, limit: limit) }
            let events = results.flatMap { host, result in
                ((try? result.get()) ?? []).map { HostEvent(host: host.name, id: $0.id, time: $0.time, kind: $0.kind, message: $0.message, by: $0.by, from: $0.from) }
            }.sorted { ($0.time, $0.host, $0.id) < ($1.time, $1.host, $1.id) }.suffix(limit)
            // Each host gave its last `limit`: the last `limit` of them all is complete.
            if global.json {
                try context.printJSON(Array(events))
            } else {
                var table = Table(columns: ["TIME", "HOST", "EVENT", "BY", "WHAT AND WHY"])
                for event in events {
                    let who = event.by.map { by in event.from.map { "\(by)@\($0)" } ?? by } ?? "agent"
                    table.rows.append([event.time.formatted(.iso8601), event.host, event.kind, who, event.message])
                }
                terminal.print(table.render())
            }
            try context.finish(results)
        }
    }
}
