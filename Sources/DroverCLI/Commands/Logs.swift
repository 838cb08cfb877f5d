import ArgumentParser
import DroverAPI
import DroverClient
import DroverCore
import Foundation

extension Drover {
    struct Logs: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "The journal lines of a service's instances on every host, merged, each prefixed by host and slot.",
            discussion: "With -f, new lines follow as they are written, until Ctrl-C.\n\nExample:\n  drover logs web -f -n 20")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Flag(name: .shortAndLong, help: "Keep following new lines.") var follow = false
        @Option(name: [.customShort("n"), .customLong("lines")], help: "How many past lines per host.") var lines: Int = 50
        @Option(name: .long, help: "Only this release's instances.") var version: String?

        struct HostLine: Encodable {
            let host: String
            let entry: LogEntry
            enum CodingKeys: String, CodingKey { case host, time, slot, version, priority, message }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(host, forKey: .host)
                try c.encode(entry.time, forKey: .time)
                try c.encode(entry.slot, forKey: .slot)
                try c.encode(entry.version, forKey: .version)
                try c.encode(entry.priority, forKey: .priority)
                try c.encode(entry.message, forKey: .message)
            }
        }

        func validate() throws {
            guard (0...10_000).contains(lines) else { throw ValidationError("-n must be from 0 to 10000") }
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let release = try version.map { try context.version($0, option: "--version") }
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let width = hosts.map(\.name.count).max() ?? 0
            let json = global.json
            let show: @Sendable (String, LogEntry) -> Void = { host, entry in
                if json {
                    let encoder = JSONEncoder()
                    encoder.dateEncodingStrategy = .iso8601
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    if let data = try? encoder.encode(HostLine(host: host, entry: entry)) { terminal.print(String(decoding: data, as: UTF8.self)) }
                } else {
                    let prefix = "\(host.padding(toLength: width)) \(entry.version)@\(entry.slot)"
                    terminal.print(terminal.styled(prefix, entry.priority <= 3 ? .red : .dim) + " | " + entry.message)
                }
            }
            let count = lines
            if !follow {
                let results = try await context.eachHost(hosts) { _, client in try await client.logs(of: name, lines: count, version: release) }
                let merged = results.flatMap { host, result in ((try? result.get()) ?? []).map { (host.name, $0) } }
                    .sorted { $0.1.time < $1.1.time }
                for (host, entry) in merged { show(host, entry) }
                try context.finish(results)
                return
            }
            // Following: every host's stream at once, lines printed as they come.
            let results = try await context.eachHost(hosts) { host, client in
                for try await entry in client.followLogs(of: name, lines: count, version: release) { show(host.name, entry) }
            }
            try context.finish(results)
        }
    }
}
