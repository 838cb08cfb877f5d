import AsyncHTTPClient
import DroverAPI
import DroverCore
import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// The agent end to end: real agent process, real systemd manager, real HTTP.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct AgentLifecycleTests {
    static let fixture = try! Data(contentsOf: URL(fileURLWithPath: fixturePath))
    static let notifySpec = #"{"binary": "web", "type": "notify"}"#

    @Test func uploadScaleServeUploadAgainAndDelete() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("web")

        let created = try await agent.upload(service, "1.0", artifact: Self.fixture, spec: Self.notifySpec)
        #expect(created.status == .created, "\(created.text)")
        let release = try created.decode(ReleaseInfo.self)
        #expect(release.version.rawValue == "1.0")
        #expect(release.kind == "binary")
        #expect(release.current)
        #expect(release.size == Int64(Self.fixture.count))

        let scaled = try await agent.scale(service, to: 3)
        #expect(scaled.status == .ok, "\(scaled.text)")
        let instances = try scaled.decode(ScaleResult.self).instances
        #expect(instances.map(\.slot) == [1, 2, 3])
        #expect(instances.allSatisfy { $0.activeState == "active" && $0.version.rawValue == "1.0" })
        let ports = instances.compactMap(\.port)
        #expect(Set(ports).count == 3, "each instance has its own PORT")
        #expect(instances.allSatisfy { ($0.memoryBytes ?? 0) > 1 << 20 && ($0.cpuNanoseconds ?? 0) > 0 },
                "memory and CPU are reported, from systemd or the cgroup files: \(instances.map { ($0.memoryBytes, $0.cpuNanoseconds) })")
        let health = try await agent.request(.GET, "/v1/health", authorized: false).decode(HealthResponse.self)
        #expect(health.metricsSource?.isEmpty == false)
        #expect(ports.allSatisfy { agent.portRange.contains($0) })

        for instance in instances {
            let answer = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(instance.port!)/").get()
            let text = answer.body.map { String(buffer: $0) } ?? ""
            #expect(text.contains("version=1.0 instance=\(instance.slot) port=\(instance.port!)"), "\(text)")
            #expect(text.contains("pid=\(instance.mainPID!)"))
        }

        let second = try await agent.upload(service, "2.0", artifact: Self.fixture, spec: Self.notifySpec)
        #expect(second.status == .created)
        #expect(try second.decode(ReleaseInfo.self).current == false, "a new upload does not replace the running release")
        let units = try FileManager.default.contentsOfDirectory(atPath: bed.manager.unitDirectory)
        #expect(units.contains("drover-\(service)_1.0@.service"))
        #expect(units.contains("drover-\(service)_2.0@.service"))
        let releases = try await agent.request(.GET, "/v1/services/\(service)/releases").decode([ReleaseInfo].self)
        #expect(releases.map(\.version.rawValue) == ["1.0", "2.0"])

        let deleted = try await agent.request(.DELETE, "/v1/services/\(service)")
        #expect(deleted.status == .noContent, "\(deleted.text)")
        let left = try FileManager.default.contentsOfDirectory(atPath: bed.manager.unitDirectory).filter { $0.contains(service) }
        #expect(left.isEmpty, "no unit file of the service is left: \(left)")
        #expect(!FileManager.default.fileExists(atPath: agent.stateDirectory + "/services/\(service)"))
        let running = try await bed.systemd.listUnits(matching: ["drover-\(service)_*"], states: ["active", "activating", "failed"])
        #expect(running.isEmpty, "no instance runs: \(running.map(\.name))")
        for instance in instances { #expect(await waitUntil { !isProcessRunning(instance.mainPID!) }) }
        let gone = try await agent.request(.GET, "/v1/services/\(service)")
        #expect(gone.status == .notFound)
        #expect(gone.errorCode == "unknown_service")
        await agent.stop()
    }
}
