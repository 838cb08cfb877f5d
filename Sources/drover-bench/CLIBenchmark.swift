import ArgumentParser
import DroverTestbed
import Foundation

/// What an operator waits for: one `drover status` next to `curl` of the same route on one
/// agent, and `drover status` across many agents (all on one throwaway manager, each with its
/// own state and port). Whole processes are timed, start to exit, as a shell would see them.
struct CLIBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cli",
        abstract: "drover status against one agent (vs curl) and across many agents."
    )

    @Option(help: "Agents for the fan-out measurement.") var agents = 50
    @Option(help: "Runs per measurement.") var runs = 20

    func validate() throws {
        guard (1...200).contains(agents), (1...1_000).contains(runs) else { throw ValidationError("--agents 1…200, --runs 1…1000") }
        guard getuid() == 0 else { throw ValidationError("the benchmark boots a throwaway systemd: run it as root") }
    }

    func run() async throws {
        let manager = try await ThrowawayUserManager.boot(journal: false)
        var started: [BenchAgent] = []
        do {
            for index in 0..<agents { started.append(try await BenchAgent.start(on: manager, name: "agent-\(index)")) }
            try await measure(started, root: manager.root)
        } catch {
            await stop(started)
            await manager.shutdown()
            throw error
        }
        await stop(started)
        await manager.shutdown()
    }

    private func stop(_ agents: [BenchAgent]) async {
        for agent in agents where agent.process.isRunning {
            kill(agent.process.pid, SIGTERM)
            _ = await agent.process.wait()
        }
    }

    private func measure(_ agents: [BenchAgent], root: String) async throws {
        let one = try inventory([agents[0]], at: root + "/one.toml")
        let all = try inventory(agents, at: root + "/all.toml")
        let drover = builtExecutable("drover")
        // Warm both paths once (page cache, first connections), untimed.
        _ = try await time(drover, ["status", "--inventory", one])
        let curlArguments = ["-sf", "-o", "/dev/null", "-H", "Authorization: Bearer \(agents[0].token)", agents[0].base + "/v1/services"]
        _ = try await time("/usr/bin/curl", curlArguments)

        var droverOne = Timings(), curlOne = Timings(), droverAll = Timings()
        for _ in 0..<runs {
            droverOne.add(try await time(drover, ["status", "--inventory", one]))
            curlOne.add(try await time("/usr/bin/curl", curlArguments))
        }
        for _ in 0..<max(1, runs / 2) { droverAll.add(try await time(drover, ["status", "--inventory", all])) }
        // One agent in twenty stopped: their hosts refuse, and status must not wait on them.
        let stopped = Array(agents.suffix(max(1, agents.count / 20)))
        await stop(stopped)
        var droverSome = Timings()
        for _ in 0..<max(1, runs / 2) { droverSome.add(try await time(drover, ["status", "--inventory", all], expecting: 3)) }

        print("drover-bench cli — \(ProcessInfo.processInfo.activeProcessorCount) CPUs, release build, agents on loopback\n")
        print("One agent, GET /v1/services (\(runs) runs each, whole process)")
        print("                                    median ms  p95 ms     min ms     max ms")
        row("drover status", droverOne)
        row("curl", curlOne)
        print("ratio drover / curl (median): \(String(format2: droverOne.median.seconds / curlOne.median.seconds, decimals: 2))x  (goal: ≤ 30 ms, within 2x of curl)\n")
        print("\(agents.count) agents at once (\(max(1, runs / 2)) runs)")
        print("                                    median ms  p95 ms     min ms     max ms")
        row("drover status", droverAll)
        row("drover status, \(stopped.count) stopped (exit 3)", droverSome)
        print("(goal: ≤ 500 ms; stopped agents refuse at once and cost no wait)")
    }

    private func row(_ name: String, _ timings: Timings) {
        print("  " + name.padded(34) + timings.median.milliseconds.padded(11) + timings.p95.milliseconds.padded(11)
              + timings.min.milliseconds.padded(11) + timings.max.milliseconds)
    }

    private func inventory(_ agents: [BenchAgent], at path: String) throws -> String {
        var text = ""
        for (index, agent) in agents.enumerated() {
            let port = agent.base.split(separator: ":").last!
            text += "[hosts.agent-\(index)]\naddress = \"127.0.0.1\"\nport = \(port)\nplaintext = true\ntoken_file = \"\(agent.work)/token\"\n\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs a program to its end; its wall time, or an error if it failed.
    private func time(_ executable: String, _ arguments: [String], expecting expected: Int32 = 0) async throws -> Duration {
        let clock = ContinuousClock(), start = clock.now
        let child = try ChildProcess.spawn(executable, arguments, environment: ["PATH": "/usr/bin:/bin", "NO_COLOR": "1"])
        let status = await child.wait()
        let elapsed = clock.now - start
        guard status == expected else { throw ValidationError("\(executable) \(arguments.joined(separator: " ")) exited \(status)") }
        return elapsed
    }
}
