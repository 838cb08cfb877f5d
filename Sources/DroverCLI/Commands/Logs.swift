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
                try await Self.follow(name, on: host.name, client, lines: count, version: release, terminal: terminal, show: show)
            }
            try context.finish(results)
        }

        /// How long a follow waits for an agent that went away (restarted, upgraded) to come back.
        static let comebackWindow: Duration = .seconds(60)

        /// Follows one host's lines. When the agent ends the stream (it stops or restarts: an
        /// upgrade, a crash), it waits for the agent to answer again and follows on from the
        /// last line shown, saying so; an agent that does not come back within
        /// `comebackWindow` ends the follow with an error.
        static func follow(_ service: ServiceName, on host: String, _ client: AgentClient, lines: Int, version: ReleaseVersion?,
                           terminal: Terminal, show: @Sendable (String, LogEntry) -> Void) async throws {
            var cursor: String?
            var resumed = false
            while true {
                do {
                    for try await entry in client.followLogs(of: service, lines: resumed ? 0 : lines, version: version, after: cursor) {
                        cursor = entry.cursor ?? cursor
                        show(host, entry)
                    }
                } catch let error as AgentClientError {
                    // The stream broke off (the agent was killed): wait for it as for a restart.
                    // Not there, or refused, at the first try: the same answer as without -f.
                    guard error.afterAnswer || (resumed && error.isUnreachable) else { throw error }
                }
                try Task.checkCancellation()
                terminal.note(terminal.styled("\(host): ", .yellow) + "the agent ended the follow (it is stopping or restarting, or this follow fell too far behind); waiting up to \(Int(comebackWindow.components.seconds)) s for it to come back")
                try await waitForComeback(client)
                terminal.note(terminal.styled("\(host): ", .yellow) + "the agent is back; following on from the last line shown")
                resumed = true
            }
        }

        /// Waits until the agent answers its health check again, asking at most every second.
        static func waitForComeback(_ client: AgentClient) async throws {
            let clock = ContinuousClock(), deadline = clock.now + comebackWindow
            var pause: Duration = .milliseconds(100)
            while clock.now < deadline {
                if (try? await client.health()) != nil { return }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(1))
            }
            throw AgentClientError(.unreachable, host: client.host,
                                   message: "the agent at \(client.address) stopped during the follow and did not answer again within \(Int(comebackWindow.components.seconds)) s")
        }
    }
}
