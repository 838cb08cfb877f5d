import ArgumentParser
import DroverAPI
import DroverClient
import DroverCore
import DroverTOML
import Foundation

extension Drover {
    struct Autoscale: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let each host scale a service between --min and --max by CPU and/or memory per instance, or turn it --off.",
            discussion: """
                Targets are per instance: --cpu in cores (0.5) or a share of one CPU (50%), --memory as a size (256M).

                Example:
                  drover autoscale web --min 2 --max 8 --cpu 50%
                  drover autoscale web --off
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Option(help: "Fewest instances.") var min: Int?
        @Option(help: "Most instances.") var max: Int?
        @Option(help: "CPU target per instance: cores (0.5) or a share of one CPU (50%).") var cpu: String?
        @Option(help: "Memory target per instance (256M, 1G).") var memory: String?
        @Option(help: "Seconds between decisions.") var interval: Double?
        @Flag(help: "Turn autoscaling off; the count stays where it is.") var off = false

        func validate() throws {
            if off {
                guard min == nil, max == nil, cpu == nil, memory == nil else { throw ValidationError("--off takes no other autoscaling option") }
                return
            }
            guard min != nil, max != nil else { throw ValidationError("give --min and --max (or --off)") }
            guard cpu != nil || memory != nil else { throw ValidationError("give a target: --cpu, --memory or both") }
            _ = try policy()
        }

        func policy() throws -> AutoscalePolicy {
            var cores: Double?
            if let cpu {
                guard let value = HumanUnits.cores(cpu) else { throw ValidationError("--cpu must be cores from 0.001 to 1000 (0.5) or a share of one CPU (50%), not \(cpu)") }
                cores = value
            }
            var bytes: UInt64?
            if let memory {
                guard case .success(let value) = HumanUnits.bytes(memory), Bounds.memoryBytes.contains(value) else {
                    throw ValidationError("--memory must be a size from 1M, like 256M, not \(memory)")
                }
                bytes = value
            }
            var policy = AutoscalePolicy(min: min ?? 1, max: max ?? 1, cpu: cores, memoryBytes: bytes)
            if let interval {
                guard AutoscalePolicy.intervalSecondsRange.contains(interval) else { throw ValidationError("--interval must be 0.1 to 3600 seconds") }
                policy.interval = .seconds(clamping: interval)
            }
            do throws(SpecError) {
                try policy.validate(maxInstances: Bounds.instances.upperBound)
            } catch {
                throw ValidationError(error.description)
            }
            return policy
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let policy = off ? nil : try self.policy()
            let results = try await context.eachHost(hosts) { _, client -> AutoscaleInfo? in
                guard let policy else {
                    do { try await client.deleteAutoscale(name) } catch let error as AgentClientError where error.code == "not_autoscaled" {}
                    return nil
                }
                return try await client.setAutoscale(name, policy)
            }
            if global.json {
                try context.printJSON(results.map { HostReport($0.host.name, $0.result) })
            } else {
                var table = Table(columns: ["HOST", "RESULT", "POLICY"])
                for (host, result) in results {
                    switch result {
                    case .success(let info):
                        table.rows.append([host.name, info == nil ? "off" : "on", info?.policy.map(Self.describe) ?? "-"])
                    case .failure(let error):
                        table.rows.append([host.name, error.category.rawValue, error.message])
                    }
                }
                terminal.print(table.render())
            }
            try context.finish(results)
        }

        static func describe(_ policy: AutoscalePolicy) -> String {
            var parts = ["\(policy.min)-\(policy.max) instances"]
            if let cpu = policy.cpu { parts.append("cpu \(cpu) cores") }
            if let memory = policy.memoryBytes { parts.append("memory \(Figures.bytes(memory))") }
            parts.append("every \(policy.interval.seconds)s")
            return parts.joined(separator: ", ")
        }
    }
}
