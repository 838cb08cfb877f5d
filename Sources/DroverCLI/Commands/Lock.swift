import ArgumentParser
import Crypto
import DroverAPI
import DroverClient
import DroverCore
import Foundation

extension Drover {
    /// `drover lock`: holds a service's lease on its hosts until `drover unlock`, so that no
    /// one deploys, rolls back, promotes or scales it meanwhile (an incident, a freeze).
    struct Lock: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep everyone (you included) from deploying, rolling back, promoting or scaling a service until drover unlock.",
            discussion: """
                Takes the service's lease on each of its hosts with your name (user@machine) and \
                the message; it holds until drover unlock, run by you (--force for anyone's). \
                --force takes it over someone else's lease; history records that.

                Example:
                  drover lock web -m "incident 42: do not deploy"
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Option(name: [.customShort("m"), .long], help: "Why, shown to whoever is refused.") var message: String?
        @Flag(help: "Take it even though someone else holds the service.") var force = false

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let request = LeaseRequest(id: Self.lockID(), holder: ServiceLease.holder, operation: "lock", message: message, force: force)
            let results = try await context.eachHost(hosts) { _, client in try await client.takeLease(name, request) }
            let refused = CommandContext.errors(in: results).filter { $0.code == "leased" }
            if !refused.isEmpty {
                // All or nothing: a lock on some hosts only would mislead.
                let taken = results.compactMap { if case .success = $0.result { $0.host } else { nil } }
                _ = try? await context.eachHost(taken) { _, client in try await client.releaseLease(name, id: request.id) }
            }
            Self.printLeases(results, context: context, done: refused.isEmpty ? "locked" : "not locked")
            if !refused.isEmpty {
                throw CommandFailure(code: ExitCodes.failed, message: "\(name) was not locked: " + (refused[0].message.components(separatedBy: "; ").first ?? refused[0].message))
            }
            try context.finish(results)
        }

        /// The id of the caller's lock: the same for `lock` and `unlock` by one operator, so
        /// unlocking needs no state on this machine.
        static func lockID() -> String {
            "lock-" + SHA256.hash(data: Data(ServiceLease.holder.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
        }

        static func printLeases(_ results: [(host: Inventory.Host, result: Result<LeaseInfo, AgentClientError>)], context: CommandContext, done: String) {
            if context.global.json {
                try? context.printJSON(results.map { HostReport($0.host.name, $0.result) })
                return
            }
            var table = Table(columns: ["HOST", "RESULT", "HOLDER", "SINCE", "MESSAGE"])
            for (host, result) in results {
                switch result {
                case .success(let lease):
                    table.rows.append([host.name, done, lease.holder, ISO8601DateFormatter().string(from: lease.since), lease.message ?? ""])
                case .failure(let error):
                    table.rows.append([host.name, error.code == "leased" ? "held by another" : error.category.rawValue, "-", "-", error.message])
                }
            }
            context.terminal.print(table.render())
        }
    }

    /// `drover unlock`: releases your lock (or anyone's lease, with `--force`).
    struct Unlock: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release your drover lock on a service (--force: whoever's lease it is).",
            discussion: """
                Example:
                  drover unlock web
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Flag(help: "Release it whoever holds it (history records that).") var force = false

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let (id, force) = (Lock.lockID(), force)
            let results = try await context.eachHost(hosts) { _, client -> String in
                do {
                    try await client.releaseLease(name, id: id, force: force)
                    return "unlocked"
                } catch let error as AgentClientError where error.code == "not_leased" {
                    return "was not locked"
                }
            }
            try context.printOutcomes(results) { $0.code == "leased" ? "held by another" : $0.category.rawValue }
            try context.finish(results)
        }
    }
}
