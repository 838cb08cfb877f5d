import ArgumentParser
import DroverAPI
import DroverSystemd
import DroverTestbed
import Foundation
import NIOCore

/// A rolling deploy of N fixture instances through the agent: total time, and the agent's
/// overhead per instance beyond the fixture's own readiness; then a rollback of the same.
struct RolloutBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Rolling deploy and rollback of N instances through the agent; overhead per instance beyond readiness."
    )

    @Option(help: "Instances rolled.")
    var instances = 10

    func validate() throws {
        guard instances > 0 else { throw ValidationError("--instances must be positive") }
        guard getuid() == 0 else { throw ValidationError("the benchmark boots a throwaway systemd: run it as root") }
    }

    func run() async throws {
        try await BenchAgent.with { agent in try await measure(agent) }
    }

    private func measure(_ agent: BenchAgent) async throws {
        let fixture = try Data(contentsOf: URL(fileURLWithPath: builtExecutable("drover-fixture")))
        let spec = #"{"binary": "web", "type": "notify"}"#
        try await agent.upload(fixture, service: "web", version: "1", spec: spec)
        try await agent.upload(fixture, service: "web", version: "2", spec: spec)
        try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": \#(instances)}"#), expect: .ok)

        // The fixture's own start → ready, straight through systemd: what no rollout can beat.
        let readiness = try await readinessOfFixture(on: agent.manager)

        let clock = ContinuousClock()
        let strategy = #""strategy": {"maxSurge": 1, "maxUnavailable": 0, "minHealthySeconds": 0}"#
        let deploy = try await clock.measure {
            let started = try await agent.call(.POST, "/v1/services/web/deployments",
                                               body: .init(string: #"{"version": "2", \#(strategy)}"#), expect: .accepted)
            try await agent.awaitDeployment(started)
        }
        let rollback = try await clock.measure {
            let started = try await agent.call(.POST, "/v1/services/web/rollback", body: .init(string: "{\(strategy)}"), expect: .accepted)
            try await agent.awaitDeployment(started)
        }

        let perInstance = deploy / instances
        print("drover-bench rollout — \(ProcessInfo.processInfo.activeProcessorCount) CPUs, release build, throwaway systemd user manager\n")
        print("Rolling deploy of \(instances) fixture instances, maxSurge 1, maxUnavailable 0, minHealthy 0 (one at a time)")
        print("  total                                   \(deploy.milliseconds) ms")
        print("  per instance                            \(perInstance.milliseconds) ms")
        print("  fixture start → ready (median of 10)    \(readiness.milliseconds) ms")
        print("  agent overhead per instance             \((perInstance - readiness).milliseconds) ms  (goal ≤ 10 ms)")
        print("Rollback of \(instances) instances (same strategy)")
        print("  total                                   \(rollback.milliseconds) ms")

        // Idle: 20 instances running, nothing asked. How often does the agent wake?
        try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": 20}"#), expect: .ok)
        try await Task.sleep(for: .seconds(10))
        let span = Duration.seconds(30)
        let before = try AgentActivity.read(pid: agent.process.pid)
        try await Task.sleep(for: span)
        let after = try AgentActivity.read(pid: agent.process.pid)
        let wakeups = Double(after.contextSwitches - before.contextSwitches) / span.seconds
        let cpu = Double(after.cpuTicks - before.cpuTicks) / Double(sysconf(Int32(_SC_CLK_TCK))) / span.seconds * 100
        print("Idle agent with 20 instances, over \(Int(span.seconds)) s (every thread's context switches, /proc/PID/task/*/status)")
        print("  wake-ups                                \(String(format: "%.1f", wakeups)) per second  (goal < 10)")
        print("  CPU                                     \(String(format: "%.2f", cpu)) %")
    }

    /// Median time for systemd to start the fixture until READY=1, without the agent.
    private func readinessOfFixture(on manager: ThrowawayUserManager) async throws -> Duration {
        let systemd = try await SystemdClient.connect(to: manager.busAddress)
        try manager.installUnit("bench-ready.service", contents: """
            [Service]
            Type=notify
            ExecStart=\(builtExecutable("drover-fixture"))
            """)
        try await systemd.reload()
        var timings = Timings()
        let clock = ContinuousClock()
        for _ in 0..<10 {
            timings.add(try await clock.measure { try await systemd.startUnit("bench-ready.service") })
            try await systemd.stopUnit("bench-ready.service")
        }
        await systemd.close()
        return timings.median
    }
}

/// What a process did so far, from /proc: context switches of all its threads, CPU ticks.
struct AgentActivity {
    var contextSwitches: Int
    var cpuTicks: Int

    static func read(pid: Int32) throws -> AgentActivity {
        var switches = 0
        for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
            for line in status.split(separator: "\n") where line.hasSuffix("ctxt_switches") == false && line.contains("ctxt_switches:") {
                switches += Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return AgentActivity(contextSwitches: switches, cpuTicks: (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0))
    }
}
