import ArgumentParser
import DroverAPI
import DroverClient
import DroverCore
import Foundation

extension Drover {
    struct Rollback: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Go back to the previous release (or --to one), host batch by host batch, stopping at the first failure.",
            discussion: "No upload: every host keeps its recent releases (see `drover releases`).\n\nExample:\n  drover rollback web --to 3fa2b1c09d4e")

        @OptionGroup var global: GlobalOptions
        @Option(name: [.customShort("m"), .long], help: "Why, for other operators (shown while the rollback holds the service).") var message: String?
        @Argument(help: "The service.") var service: String
        @Option(help: "The release to go back to (default: the one before the current, on each host).") var to: String?
        @Option(help: "Hosts rolled back at once (default: the manifest's rollout.batch, else 1).") var batch: Int?

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let manifest = try context.manifest(name, required: false)
            let hosts = try context.hosts(for: manifest)
            let target = try to.map { try context.version($0, option: "--to") }
            let batch = batch ?? manifest?.rollout.batch ?? 1
            try await ServiceLease.holding("rollback", service: name, hosts: hosts, context: context, message: message) { context in
                let rollout = FleetRollout(context: context, service: name, batch: batch, revertOnFailure: false)
                let strategy = manifest?.rollout.strategy
                let report = try await rollout.run(hosts) { _, client in
                    (try await client.rollback(name, RollbackRequest(to: target, strategy: strategy)), nil)
                }
                try FleetRollout.report(report, service: name, version: target?.rawValue, context: context)
            }
        }
    }
}
