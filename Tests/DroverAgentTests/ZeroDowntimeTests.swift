import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// The handoff without a proxy: during a rolling deploy of a service that `listen`s, every
/// instance of both releases accepts on one socket, and a client hammering it from another
/// process sees no failed request while its answers switch from v1 to v2.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct ZeroDowntimeTests {
    @Test func aRollingDeployUnderLoadFailsNoRequest() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("live")
        let port = try freeLoopbackPort()
        let spec = #"{"binary": "web", "type": "notify", "listen": "127.0.0.1:\#(port)"}"#
        #expect(try await agent.upload(service, "1", artifact: AgentLifecycleTests.fixture, spec: spec).status == .created)
        #expect(try await agent.upload(service, "2", artifact: AgentLifecycleTests.fixture, spec: spec).status == .created)
        let scaled = try await agent.scale(service, to: 4)
        #expect(scaled.status == .ok, "\(scaled.text)")
        let units = try FileManager.default.contentsOfDirectory(atPath: bed.manager.unitDirectory)
        #expect(units.contains("drover-\(service).socket"))

        let client = try TrafficClient.start(port: port, work: bed.manager.root + "/\(service)-client")
        #expect(await waitUntil { client.progress()["1"] != nil }, "the client reaches v1")

        let deployment = try await agent.deploy(service, #"{"version": "2", "strategy": {"maxSurge": 1, "maxUnavailable": 0, "minHealthySeconds": 0.3}}"#)
            .decode(DeploymentInfo.self)
        #expect(try await agent.finished(deployment).state == .succeeded)
        #expect(await waitUntil { (client.progress()["2"] ?? 0) > 25 }, "the client reaches v2")

        let result = try await client.finish()
        print("zero-downtime handoff: \(result.ok) requests, \(result.failed) failed, by version \(result.versions)")
        #expect(result.failed == 0, "failed requests: \(result.errors)")
        #expect(result.ok > 100, "enough traffic to mean something: \(result.ok)")
        #expect(result.versions.keys.sorted() == ["1", "2"])
        #expect(result.sequence.last == "2", "it ends on v2: \(result.sequence)")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        let left = try FileManager.default.contentsOfDirectory(atPath: bed.manager.unitDirectory).filter { $0.contains(service) }
        #expect(left.isEmpty, "socket and holder are removed with the service: \(left)")
        await agent.stop()
    }
}
