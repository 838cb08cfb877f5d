import ArgumentParser
import AsyncHTTPClient
import DroverAPI
import DroverCore
import DroverSystemd
import DroverTestbed
import Foundation
import NIOCore
import Synchronization

/// Scaling through the agent: scale-out of N fixture instances from 0 against N bare
/// concurrent `StartUnit` calls on the same manager, and the autoscaler's reaction time
/// (CPU load on → a new instance active).
struct ScaleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Scale-out 0→N through the agent vs N bare StartUnit calls; autoscale reaction time."
    )

    @Option(help: "Instances started at once.")
    var instances = 100

    @Option(help: "Rounds of each measurement (the median is reported).")
    var rounds = 3

    @Option(help: "Autoscaling interval in seconds for the reaction measurement.")
    var interval = 1.0

    func validate() throws {
        guard (1...100).contains(instances) else { throw ValidationError("--instances must be 1…100 (the agent's default max_instances)") }
        guard rounds > 0, interval >= 0.1 else { throw ValidationError("--rounds must be positive and --interval at least 0.1") }
        guard getuid() == 0 else { throw ValidationError("the benchmark boots a throwaway systemd: run it as root") }
    }

    func run() async throws {
        try await BenchAgent.with { agent in try await measure(agent) }
    }

    private func measure(_ agent: BenchAgent) async throws {
        let fixture = try Data(contentsOf: URL(fileURLWithPath: builtExecutable("drover-fixture")))
        try await agent.upload(fixture, service: "web", version: "1", spec: #"{"binary": "web", "type": "notify"}"#)
        let clock = ContinuousClock()

        // Bare: the very units the agent runs (its rendered template, sandbox and slot
        // environment included, copied under another name), started straight through
        // systemd, all at once. A first scale through the agent writes the slot environment
        // they read.
        let systemd = try await SystemdClient.connect(to: agent.manager.busAddress)
        try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": \#(instances)}"#), expect: .ok)
        try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": 0}"#), expect: .ok)
        let service = try ServiceName("web"), version = try ReleaseVersion("1")
        // Under a name of its own: the agent's reconciler keeps the service's count, and would
        // stop instances of its own units that it did not start.
        let template = try String(contentsOfFile: agent.manager.unitDirectory + "/" + UnitNames.template(service, version), encoding: .utf8)
        try template.write(toFile: agent.manager.unitDirectory + "/bench-bare@.service", atomically: true, encoding: .utf8)
        try await systemd.reload()
        let units = (1...instances).map { "bench-bare@\($0).service" }
        var bare = Timings(), viaAgent = Timings()
        for _ in 0..<rounds {
            bare.add(try await clock.measure {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for unit in units { group.addTask { try await systemd.startUnit(unit) } }
                    try await group.waitForAll()
                }
            })
            try await withThrowingTaskGroup(of: Void.self) { group in
                for unit in units { group.addTask { try await systemd.stopUnit(unit) } }
                try await group.waitForAll()
            }
            viaAgent.add(try await clock.measure {
                try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": \#(instances)}"#), expect: .ok)
            })
            try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": 0}"#), expect: .ok)
        }
        await systemd.close()

        let reaction = try await autoscaleReaction(agent)

        print("drover-bench scale — \(ProcessInfo.processInfo.activeProcessorCount) CPUs, release build, throwaway systemd user manager\n")
        print("Scale-out 0 → \(instances) fixture instances (Type=notify: each start waits for READY=1), median of \(rounds)")
        print("  \(instances) bare concurrent StartUnit      \(bare.median.milliseconds) ms")
        print("  through the agent (PUT …/scale)     \(viaAgent.median.milliseconds) ms")
        print("  ratio agent / bare                  \(String(format2: viaAgent.median.seconds / bare.median.seconds, decimals: 2))x  (goal ≤ 1.5x)")
        print("Autoscale reaction: CPU load on → second instance active (min 1, max 4, cpu 0.5, interval \(interval) s), median of \(rounds)")
        print("  median                              \(reaction.median.milliseconds) ms")
        print("  min … max                           \(reaction.min.milliseconds) … \(reaction.max.milliseconds) ms")
    }

    /// Times from "load on" to a second active instance, one per round.
    private func autoscaleReaction(_ agent: BenchAgent) async throws -> Timings {
        var timings = Timings()
        let clock = ContinuousClock()
        for _ in 0..<rounds {
            try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": 1}"#), expect: .ok)
            let policy = #"{"min": 1, "max": 4, "cpu": 0.5, "intervalSeconds": \#(interval)}"#
            try await agent.call(.PUT, "/v1/services/web/autoscale", body: .init(string: policy), expect: .ok)
            // Let the loop take its first readings (two rounds: a CPU rate), as it would have long
            // before load arrives.
            let primed = await waitUntil(timeout: .seconds(interval * 10 + 10), interval: .milliseconds(20)) {
                guard let data = try? await agent.call(.GET, "/v1/services/web/autoscale", expect: .ok),
                      let info = try? JSONDecoder.droverAPI.decode(AutoscaleInfo.self, from: data) else { return false }
                return info.decisions.count >= 2
            }
            guard primed else { throw ValidationError("the autoscaler made no decisions; see \(agent.work)/agent.log") }
            let port = try await activeInstances(agent).first?.port ?? 0
            let stop = Flag()
            let started = clock.now
            async let load: Void = burn(port: port, workers: 4, until: stop)
            let scaled = await waitUntil(timeout: .seconds(60), interval: .milliseconds(10)) {
                ((try? await activeInstances(agent).count) ?? 0) >= 2
            }
            let elapsed = clock.now - started
            stop.set()
            await load
            guard scaled else { throw ValidationError("the autoscaler did not add an instance within 60 s") }
            timings.add(elapsed)
            try await agent.call(.DELETE, "/v1/services/web/autoscale", expect: .noContent)
        }
        try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": 0}"#), expect: .ok)
        return timings
    }

    private func activeInstances(_ agent: BenchAgent) async throws -> [InstanceInfo] {
        let data = try await agent.call(.GET, "/v1/services/web/instances", expect: .ok)
        return try JSONDecoder.droverAPI.decode([InstanceInfo].self, from: data).filter { $0.state == .running }
    }

    /// `workers` loops of `/burn` requests at one instance, until `stop` is set.
    private func burn(port: Int, workers: Int, until stop: Flag) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<workers {
                group.addTask {
                    while !stop.isSet {
                        let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/burn?ms=50")
                        if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)) {
                            _ = try? await response.body.collect(upTo: 1 << 16)
                        }
                    }
                }
            }
        }
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }
}
