import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Synchronization
import Testing

/// The agent under load while it works: 200 clients on `GET /v1/services`, a service's
/// instances and `GET /metrics`, as fast as they are answered, on an agent with 20 services,
/// while a rolling deploy runs and a log follow stays open. Nothing may fail: no request, not
/// the deploy, not the follow. (The latency figures come from `drover-bench load` in a
/// release build; this debug build prints its own for comparison only.)
// The CPU to itself: the load is the measure.
// The limit covers the wait for the CPU (the whole parallel phase; see HostCPUGate).
@Suite(.userManagerWithTheCPUToItself, .timeLimit(.minutes(20)))
struct LoadTests {
    @Test func twoHundredClientsADeployAndAFollowAtOnceAndNothingFails() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        defer { Task { await agent.stop() } }
        let client = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token, timeout: .seconds(60))
        let prefix = uniqueService("load")
        for index in 1..<20 {
            let service = try ServiceName("\(prefix)-\(index)")
            _ = try await client.upload(service, try ReleaseVersion("1"), file: "/bin/sleep", spec: ServiceSpec(binary: "sleep", arguments: ["infinity"]))
            _ = try await client.scale(service, to: 1)
        }
        let web = try ServiceName("\(prefix)-web")
        for version in 1...2 {
            let spec = ServiceSpec(binary: "web", arguments: ["--print", "web v\(version) up"], type: .notify)
            _ = try await client.upload(web, try ReleaseVersion("\(version)"), file: fixturePath, spec: spec)
        }
        _ = try await client.scale(web, to: 4)

        // The follow, open from before the load to its end.
        let newInstancesSeen = Atomic<Int>(0)
        let follow = Task {
            for try await entry in client.followLogs(of: web, lines: 0) where entry.message == "web v2 up" {
                newInstancesSeen.add(1, ordering: .relaxed)
            }
        }
        defer { follow.cancel() }

        let paths = ["/v1/services", "/v1/services/\(prefix)-10/instances", "/metrics"]
        async let load = LoadDriver.run(clients: 200, for: .seconds(20), baseURL: agent.baseURL, token: agent.token, paths: paths)
        try await Task.sleep(for: .seconds(3))
        let clock = ContinuousClock(), started = clock.now
        let deployment = try await client.deploy(web, DeploymentRequest(version: try ReleaseVersion("2"),
                                                                      strategy: DeploymentStrategy(maxSurge: 1, maxUnavailable: 0, minHealthySeconds: 1)))
        let finished = try await agent.finished(deployment, timeout: .seconds(120))
        let deployTook = clock.now - started
        let report = try await load

        print("load (debug build): \(report.latencies.count) answers, \(report.errors.count) errors, p50 \(report.percentile(50)), "
              + "p99 \(report.percentile(99)), max \(report.maximum); deploy of 4 instances \(deployTook); "
              + "follow saw \(newInstancesSeen.load(ordering: .relaxed)) new instances")
        #expect(report.errors.isEmpty, "\(report.errors.count) failed: \(report.errors.prefix(3))")
        #expect(report.latencies.count > 1_000, "the load was applied: \(report.latencies.count) answers")
        #expect(finished.state == .succeeded, "\(finished.state): \(finished.reason ?? "")")
        // The follow stayed open through the load and delivered each new instance's first line.
        // (It once missed one: an instance in a slot the follow learnt of after the instance had
        // written its line; a follow now reads back over the last 30 s when it adds units.)
        #expect(await waitUntil(timeout: .seconds(15)) { newInstancesSeen.load(ordering: .relaxed) == 4 },
                "the follow delivered the 4 new instances' first lines: \(newInstancesSeen.load(ordering: .relaxed))")
        let instances = try await client.instances(of: web)
        #expect(instances.count == 4 && instances.allSatisfy { $0.version.rawValue == "2" }, "\(instances.map(\.version))")
    }
}
