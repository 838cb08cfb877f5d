import ArgumentParser
import DroverAPI
import DroverClient
import DroverCore
import Foundation

extension Drover {
    /// `drover promote`: a canary that looks good goes everywhere. Its hosts finish their
    /// rollout, then the other hosts roll batch by batch, as a deploy would.
    struct Promote: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Promote a service's canary: finish its rollout, then roll the other hosts batch by batch.",
            discussion: """
                The canary's hosts are promoted first (their old instances are replaced as in any \
                rollout); then every other host rolls to the canary's release, stopping at the \
                first failure. Needs the release uploaded everywhere, which drover deploy does \
                before it starts a canary. Holds no state: run it whenever, from anywhere.

                Example:
                  drover promote web
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Option(help: "Hosts rolled at once after the canary's (default: the manifest's rollout.batch, else 1).") var batch: Int?
        @Option(name: [.customShort("m"), .long], help: "Why, for other operators (shown while the promotion holds the service).") var message: String?

        func validate() throws {
            if let batch, !(1...1_000).contains(batch) { throw ValidationError("--batch must be from 1 to 1000") }
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let manifest = try context.manifest(name, required: false)
            let hosts = try context.hosts(for: manifest)
            let batch = batch ?? manifest?.rollout.batch ?? 1
            try await ServiceLease.holding("promote", service: name, hosts: hosts, context: context, message: message) { context in
                let canaries = try await Self.canaries(of: name, on: hosts, context: context)
                guard let version = canaries.values.first?.toVersion else {
                    throw CommandFailure(code: ExitCodes.failed, message: "no canary of \(name) is waiting on \(hosts.map(\.name).joined(separator: ", ")) "
                                         + "(drover status \(name) shows where each host stands); drover deploy \(name) --canary N starts one")
                }
                if let starting = canaries.first(where: { $0.value.state != .canary }) {
                    throw CommandFailure(code: ExitCodes.failed, message: "the canary on \(starting.key) is still starting (\(starting.value.state.rawValue)): promote it once drover status \(name) shows it waiting")
                }
                var strategy = manifest?.rollout.strategy ?? canaries.values.first!.strategy
                (strategy.canary, strategy.autoPromoteSeconds) = (nil, nil)
                let request = DeploymentRequest(version: version, instances: manifest?.instances ?? canaries.values.first!.instances, strategy: strategy)
                terminal.note(terminal.styled("↑ ", .bold) + "promoting \(version) on \(canaries.keys.sorted().joined(separator: ", ")), then the other hosts")
                // The canary's hosts first, then the rest in their order.
                let ordered = hosts.filter { canaries[$0.name] != nil } + hosts.filter { canaries[$0.name] == nil }
                let rollout = FleetRollout(context: context, service: name, batch: batch, revertOnFailure: true)
                let report = try await rollout.run(ordered) { host, client in
                    if let canary = canaries[host.name] { return (try await client.promote(canary.id), nil) }
                    let info = try await client.service(name)
                    if info.currentVersion == version, info.desiredInstances == request.instances { return (nil, "already runs \(version)") }
                    return (try await client.deploy(name, request), nil)
                }
                try FleetRollout.report(report, service: name, version: version.rawValue, context: context)
            }
        }

        /// The deployments waiting (or starting) as canaries, by host. Hosts that cannot be
        /// reached are reported and stop the command: promoting half a fleet blind is worse.
        static func canaries(of name: ServiceName, on hosts: [Inventory.Host], context: CommandContext) async throws -> [String: DeploymentInfo] {
            let results = try await context.eachHost(hosts) { _, client -> DeploymentInfo? in
                do {
                    let deployment = try await client.service(name).deployment
                    return deployment?.strategy.canary != nil && [.canary, .running].contains(deployment?.state) ? deployment : nil
                } catch let error as AgentClientError where error.code == "unknown_service" {
                    return nil
                }
            }
            try context.finish(results)
            var canaries: [String: DeploymentInfo] = [:]
            for (host, result) in results { if case .success(let deployment?) = result { canaries[host.name] = deployment } }
            return canaries
        }
    }

    /// `drover abort`: stops a canary everywhere; the old release runs on, untouched.
    struct Abort: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Abort a service's canary: stop its instances; the old release runs on untouched.",
            discussion: """
                Example:
                  drover abort web
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Option(name: [.customShort("m"), .long], help: "Why, for other operators.") var message: String?

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            try await ServiceLease.holding("abort", service: name, hosts: hosts, context: context, message: message) { context in
                let canaries = try await Promote.canaries(of: name, on: hosts, context: context)
                guard !canaries.isEmpty else {
                    throw CommandFailure(code: ExitCodes.failed, message: "no canary of \(name) to abort on \(hosts.map(\.name).joined(separator: ", ")) (drover status \(name))")
                }
                let targets = hosts.filter { canaries[$0.name] != nil }
                let results = try await context.eachHost(targets) { host, client in try await client.abort(canaries[host.name]!.id) }
                if global.json {
                    try context.printJSON(results.map { HostReport($0.host.name, $0.result) })
                } else {
                    var table = Table(columns: ["HOST", "RESULT", "KEPT", "REASON"])
                    for (host, result) in results {
                        switch result {
                        case .success(let deployment):
                            table.rows.append([host.name, deployment.state.rawValue, deployment.fromVersion?.rawValue ?? "-", deployment.reason ?? ""])
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
}
