import ArgumentParser
import AsyncHTTPClient
import DroverTestbed
import Foundation
import NIOCore
import Synchronization

/// The agent under load while it works: 200 clients asking `GET /v1/services`, a service's
/// instances and `GET /metrics` as fast as they are answered, for 60 s, on an agent with 20
/// services, while a rolling deploy of one of them runs and a log follow stays open. Latency
/// percentiles, errors, and the deploy's time next to the same deploy without load.
struct LoadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "200 clients on status, instances and /metrics for 60 s, with a rolling deploy and a log follow under way."
    )

    @Option(help: "Concurrent clients.")
    var clients = 200

    @Option(help: "Seconds of load.")
    var seconds = 60

    @Option(help: "Services on the agent (one of them is deployed under load).")
    var services = 20

    @Option(help: "Milliseconds between one client's requests (0: ask again as soon as answered).")
    var interval = 0

    func validate() throws {
        guard (1...2_000).contains(clients), (5...3_600).contains(seconds), (2...200).contains(services), (0...60_000).contains(interval) else {
            throw ValidationError("--clients 1…2000, --seconds 5…3600, --services 2…200, --interval 0…60000")
        }
        guard getuid() == 0 else { throw ValidationError("the benchmark boots a throwaway systemd: run it as root") }
    }

    func run() async throws {
        try await BenchAgent.with(journal: true) { agent in try await measure(agent) }
    }

    private func measure(_ agent: BenchAgent) async throws {
        let sleep = try Data(contentsOf: URL(fileURLWithPath: "/bin/sleep"))
        for index in 1..<services {
            try await agent.upload(sleep, service: "svc\(index)", version: "1", spec: #"{"binary": "sleep", "arguments": ["infinity"]}"#)
            try await agent.call(.PUT, "/v1/services/svc\(index)/scale", body: .init(string: #"{"instances": 2}"#), expect: .ok)
        }
        let fixture = try Data(contentsOf: URL(fileURLWithPath: builtExecutable("drover-fixture")))
        for version in 1...3 {
            let spec = #"{"binary": "web", "type": "notify", "arguments": ["--print", "web v\#(version) up"]}"#
            try await agent.upload(fixture, service: "web", version: "\(version)", spec: spec)
        }
        try await agent.call(.PUT, "/v1/services/web/scale", body: .init(string: #"{"instances": 4}"#), expect: .ok)

        let clock = ContinuousClock()
        let strategy = #""strategy": {"maxSurge": 1, "maxUnavailable": 0, "minHealthySeconds": 1}"#
        func deploy(_ version: Int) async throws -> Duration {
            try await clock.measure {
                let started = try await agent.call(.POST, "/v1/services/web/deployments",
                                                   body: .init(string: #"{"version": "\#(version)", \#(strategy)}"#), expect: .accepted)
                try await agent.awaitDeployment(started)
            }
        }
        let quiet = try await deploy(2)

        // A log follow open throughout, counting the lines it is sent.
        let followed = Atomic<Int>(0)
        let follow = Task {
            var request = HTTPClientRequest(url: agent.base + "/v1/services/web/logs?follow=true&lines=0")
            request.headers.add(name: "Authorization", value: "Bearer \(agent.token)")
            let response = try await HTTPClient.shared.execute(request, timeout: .hours(1))
            for try await chunk in response.body {
                followed.add(chunk.readableBytesView.filter { $0 == UInt8(ascii: "\n") }.count, ordering: .relaxed)
            }
        }
        defer { follow.cancel() }

        let paths = ["/v1/services", "/v1/services/svc\(services / 2)/instances", "/metrics"]
        async let load = LoadDriver.run(clients: clients, for: .seconds(seconds), every: interval > 0 ? .milliseconds(interval) : nil,
                                        baseURL: agent.base, token: agent.token, paths: paths)
        try await Task.sleep(for: .seconds(5))
        let loaded = try await deploy(3)
        let report = try await load

        print("drover-bench load — \(ProcessInfo.processInfo.activeProcessorCount) CPUs, release build, throwaway systemd user manager, plain HTTP on loopback")
        let pace = interval > 0 ? "each asking every \(interval) ms" : "each asking again as soon as answered"
        print("\(services) services (\(services - 1) × 2 sleep instances, web × 4 fixture instances); \(clients) clients, \(pace), for \(seconds) s on")
        print("  \(paths.joined(separator: ", ")) in turn; a rolling deploy of web (4 instances, maxSurge 1, minHealthy 1 s) 5 s in;")
        print("  a log follow of web open throughout.\n")
        print("requests        \(report.latencies.count)  (\(String(format: "%.0f", report.requestsPerSecond))/s)")
        print("errors          \(report.errors.count)\(report.errors.first.map { "  first: \($0)" } ?? "")")
        print("latency p50     \(report.percentile(50).milliseconds) ms")
        print("latency p99     \(report.percentile(99).milliseconds) ms")
        print("latency max     \(report.maximum.milliseconds) ms")
        print("deploy, quiet   \(quiet.milliseconds) ms")
        print("deploy, loaded  \(loaded.milliseconds) ms  (\(String(format: "%.2f", loaded / quiet))× the quiet one)")
        print("follow          \(followed.load(ordering: .relaxed)) lines received while it ran")
    }
}
