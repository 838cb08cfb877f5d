import ArgumentParser
import DroverTestbed
import Foundation
import NIOCore

/// The agent's resident memory, idle and with instances, broken down by mapping from
/// `/proc/PID/smaps`: which library's pages it touches, and how much is its own (anonymous).
/// `DROVER_DROVER_AGENT=PATH` measures another build of the agent (say, a static one).
struct MemoryBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "The agent's RSS idle and with N instances, by mapping (smaps)."
    )

    @Option(help: "Instances of the fixture for the second reading.")
    var instances = 20

    @Option(help: "Seconds to let the agent settle before each reading.")
    var settle = 5.0

    func validate() throws {
        guard (1...100).contains(instances) else { throw ValidationError("--instances must be 1…100") }
        guard getuid() == 0 else { throw ValidationError("the benchmark boots a throwaway systemd: run it as root") }
    }

    func run() async throws {
        try await BenchAgent.with { agent in
            try await Task.sleep(for: .seconds(settle))
            let idle = try Profile(pid: agent.process.pid)
            let fixture = try Data(contentsOf: URL(fileURLWithPath: builtExecutable("drover-fixture")))
            try await agent.upload(fixture, service: "web", version: "1", spec: #"{"binary": "web", "type": "notify"}"#)
            try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": \#(instances)}"#), expect: .ok)
            // What a host's monitoring does meanwhile: a read of the service and the metrics.
            try await agent.call(.GET, "/v1/services", expect: .ok)
            try await agent.call(.GET, "/metrics", expect: .ok)
            try await Task.sleep(for: .seconds(settle))
            let loaded = try Profile(pid: agent.process.pid)
            print("drover-bench memory — \(ProcessInfo.processInfo.activeProcessorCount) CPUs, agent \(builtExecutable("drover-agent"))")
            print("")
            print("Idle agent (user scope, no services)")
            idle.print()
            print("")
            print("With \(instances) instances, after GET /v1/services and /metrics")
            loaded.print()
        }
    }
}

/// Resident memory by mapping, from smaps: file-backed pages by file, anonymous pages together.
struct Profile {
    var byMapping: [String: Int] = [:]
    var anonymous = 0
    var total = 0

    init(pid: Int32) throws {
        let text = try Self.read("/proc/\(pid)/smaps")
        var current = "[anonymous]"
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), first.first?.isHexDigit == true {
                // A mapping's header: address range, perms, offset, device, inode, path.
                current = fields.count >= 6 ? String(fields[5...].joined(separator: " ")) : "[anonymous]"
                if current.hasPrefix("/") { current = String(current.split(separator: "/").last ?? "") }
            } else if fields.first == "Rss:", fields.count >= 2, let kB = Int(fields[1]) {
                byMapping[current, default: 0] += kB
                total += kB
            } else if fields.first == "Anonymous:", fields.count >= 2, let kB = Int(fields[1]) {
                anonymous += kB
            }
        }
    }

    /// The whole of a /proc file (its size reads as 0: read until the end, not to the size).
    static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValidationError("cannot open \(path)") }
        defer { close(fd) }
        var bytes: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func print() {
        func mib(_ kB: Int) -> String { String(format: "%6.1f MiB", Double(kB) / 1024) }
        Swift.print("  total RSS                     \(mib(total))")
        Swift.print("  anonymous (the agent's own)   \(mib(anonymous))")
        Swift.print("  file-backed                   \(mib(total - anonymous))")
        for (name, kB) in byMapping.sorted(by: { $0.value > $1.value }).prefix(12) where kB >= 256 {
            Swift.print("    \(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(mib(kB))")
        }
    }
}
