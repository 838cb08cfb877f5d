import ArgumentParser
import DroverAPI
import DroverClient
import DroverCore
import DroverTOML
import Foundation

extension Drover {
    /// Live resize: new CPU and memory limits for a service's running instances, without a
    /// restart (`PUT …/limits`), kept for instances started later; `--reset` returns to the
    /// releases' own limits (`DELETE …/limits`).
    struct Limits: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the CPU and memory limits of a service's instances live, on each of its hosts (no restart).",
            discussion: """
                A limit left out keeps each release's own. --reset removes the resize: instances run \
                with their releases' limits again. Needs a deploy token.

                Example:
                  drover limits web --cpu 150% --memory 512M
                """,
            aliases: ["resize"])

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Option(help: ArgumentHelp("CPUQuota of each instance, a share of one CPU.", valueName: "150%")) var cpu: String?
        @Option(help: ArgumentHelp("MemoryMax of each instance.", valueName: "512M")) var memory: String?
        @Flag(help: "Remove the resize: back to the releases' own limits.") var reset = false

        func limits() throws -> InstanceLimits? {
            if reset {
                guard cpu == nil, memory == nil else { throw ValidationError("--reset goes alone: it removes the resize, --cpu and --memory set one") }
                return nil
            }
            guard cpu != nil || memory != nil else { throw ValidationError("give --cpu, --memory or both (or --reset to remove the resize)") }
            var limits = InstanceLimits()
            if let cpu {
                guard let percent = HumanUnits.cpuPercent(cpu), Bounds.cpuPercent.contains(percent) else {
                    throw ValidationError("--cpu must be a share of one CPU from 1% to 100000%, like 50% or 150%, not \(cpu)")
                }
                limits.cpuPercent = percent
            }
            if let memory {
                guard case .success(let bytes) = HumanUnits.bytes(memory), Bounds.memoryBytes.contains(bytes) else {
                    throw ValidationError("--memory must be a size from 1M to 1P, like 512M or 2G, not \(memory)")
                }
                limits.memoryBytes = bytes
            }
            return limits
        }

        func validate() throws { _ = try limits() }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let limits = try self.limits()
            let results = try await context.eachHost(hosts) { _, client -> InstanceLimitsInfo in
                if let limits { return try await client.setLimits(name, limits) }
                try await client.deleteLimits(name)
                return try await client.limits(of: name)
            }
            if global.json {
                try context.printJSON(results.map { HostReport($0.host.name, $0.result) })
            } else {
                var table = Table(columns: ["HOST", "RESULT", "CPU", "MEMORY", "INSTANCES"])
                for (host, result) in results {
                    switch result {
                    case .success(let info):
                        table.rows.append([host.name, info.limits == nil ? "releases' limits" : "resized",
                                           info.limits?.cpuPercent.map { "\($0)%" } ?? "-",
                                           info.limits?.memoryBytes.map { Figures.bytes($0) } ?? "-", "\(info.instances.count)"])
                    case .failure(let error):
                        table.rows.append([host.name, error.category.rawValue, "-", "-", error.message])
                    }
                }
                terminal.print(table.render())
            }
            try context.finish(results)
        }
    }

    /// Deletes a service from its hosts: instances stopped, units, releases, secrets and
    /// records removed (an `admin` token's job). Asks first, unless `--yes`.
    struct Delete: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a service from each of its hosts: stop its instances, remove its units, releases and secrets.",
            discussion: """
                Needs an admin token. Asks for the service's name on a terminal; --yes skips that \
                (for scripts). The event log keeps a line saying it happened.

                Example:
                  drover delete old-worker --yes
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Flag(help: "Do not ask: delete at once.") var yes = false

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            if !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    throw CommandFailure(code: ExitCodes.input, message: "no terminal to confirm on: run it again with --yes to delete \(name) from \(hosts.map(\.name).joined(separator: ", "))")
                }
                terminal.noteRaw("This stops every instance of \(name) and removes its releases on \(hosts.map(\.name).joined(separator: ", ")). Type its name to go on: ")
                guard readLine()?.trimmingSpaces == name.rawValue else {
                    throw CommandFailure(code: ExitCodes.failed, message: "not deleted: the name did not match")
                }
            }
            let results = try await context.eachHost(hosts) { _, client -> String in
                do {
                    try await client.deleteService(name)
                    return "deleted"
                } catch let error as AgentClientError where error.code == "unknown_service" {
                    return "not there"
                }
            }
            try context.printOutcomes(results)
            try context.finish(results)
        }
    }
}
