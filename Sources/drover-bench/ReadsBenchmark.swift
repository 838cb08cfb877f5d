import ArgumentParser
import DroverTestbed
import Foundation

/// What reading state costs as a host grows: `GET /v1/services` and `GET /metrics` at 1, 10,
/// 40 and 100 services of 5 instances each. The instances are `sleep infinity`, so that 500 of
/// them fit any machine; the agent reads them as it reads any service.
struct ReadsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reads",
        abstract: "GET /v1/services and GET /metrics at 1, 10, 40 and 100 services of 5 instances."
    )

    @Option(help: "Instances per service.")
    var instances = 5

    @Option(help: "Requests timed per row.")
    var requests = 30

    func validate() throws {
        guard (1...100).contains(instances), requests > 0 else { throw ValidationError("--instances 1…100, --requests > 0") }
        guard getuid() == 0 else { throw ValidationError("the benchmark boots a throwaway systemd: run it as root") }
    }

    func run() async throws {
        try await BenchAgent.with { agent in try await measure(agent) }
    }

    private func measure(_ agent: BenchAgent) async throws {
        let sleep = try Data(contentsOf: URL(fileURLWithPath: "/bin/sleep"))
        let spec = #"{"binary": "sleep", "arguments": ["infinity"]}"#
        print("drover-bench reads — \(ProcessInfo.processInfo.activeProcessorCount) CPUs, release build, throwaway systemd user manager")
        print("Each service runs \(instances) instances; median (p95) of \(requests) requests in a row after a warm-up;")
        print("cold: median of 5 requests each made after the agent's cgroup readings expired (> 1 s), as a scrape sees it.\n")
        print("services  instances  GET /v1/services        per instance   GET /metrics           cold /v1/services  cold /metrics")
        var created = 0
        for target in [1, 10, 40, 100] {
            while created < target {
                created += 1
                let service = "svc\(created)"
                try await agent.upload(sleep, service: service, version: "1", spec: spec)
                try await agent.call(.PUT, "/v1/services/\(service)/scale", body: .init(string: #"{"instances": \#(instances)}"#), expect: .ok)
            }
            let services = try await time(agent, "/v1/services")
            let metrics = try await time(agent, "/metrics")
            let perInstance = services.median / (target * instances)
            let coldServices = try await time(agent, "/v1/services", cold: true)
            let coldMetrics = try await time(agent, "/metrics", cold: true)
            print("\(pad(target, 8))  \(pad(target * instances, 9))  \(pad(services.median.milliseconds + " ms (" + services.p95.milliseconds + ")", 22))  "
                + "\(pad(String(format: "%.1f", Double(perInstance.components.attoseconds) / 1e12 + Double(perInstance.components.seconds) * 1e6) + " µs", 13))  "
                + "\(pad(metrics.median.milliseconds + " ms (" + metrics.p95.milliseconds + ")", 21))  "
                + "\(pad(coldServices.median.milliseconds + " ms", 17))  \(coldMetrics.median.milliseconds) ms")
        }
    }

    private func time(_ agent: BenchAgent, _ path: String, cold: Bool = false) async throws -> Timings {
        let clock = ContinuousClock()
        if !cold { for _ in 0..<3 { _ = try await agent.call(.GET, path, expect: .ok) } }
        var timings = Timings()
        for _ in 0..<(cold ? 5 : requests) {
            if cold { try await Task.sleep(for: .milliseconds(1100)) }
            timings.add(try await clock.measure { _ = try await agent.call(.GET, path, expect: .ok) })
        }
        return timings
    }

    private func pad(_ value: Any, _ width: Int) -> String {
        let text = "\(value)"
        return text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
