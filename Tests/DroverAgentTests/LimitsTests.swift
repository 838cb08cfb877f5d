import DroverAPI
import DroverCore
import DroverSystemd
import Foundation
import Testing

/// Live vertical resize: CPUQuota and MemoryMax of running instances change without a
/// restart, as systemd reports them, and instances started later get them too.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct LimitsTests {
    static let fixture = AgentLifecycleTests.fixture
    static let spec = #"{"binary": "web", "type": "notify", "resources": {"cpuPercent": 50, "memoryBytes": 268435456}}"#

    /// CPUQuota (percent) and MemoryMax (bytes) of a unit as systemd has them; nil means none.
    func limits(of unit: String, _ systemd: SystemdClient) async throws -> (cpuPercent: Int?, memoryBytes: UInt64?) {
        let properties = try await systemd.properties(of: unit, interface: "org.freedesktop.systemd1.Service")
        let quota = try #require(properties["CPUQuotaPerSecUSec"]?.uint64)
        let memory = try #require(properties["MemoryMax"]?.uint64)
        return (quota == .max ? nil : Int(quota / 10_000), memory == .max ? nil : memory)
    }

    func put(_ agent: AgentProcess, _ service: String, _ body: String) async throws -> AgentProcess.Reply {
        try await agent.request(.PUT, "/v1/services/\(service)/limits", body: Data(body.utf8), headers: [("Content-Type", "application/json")])
    }

    @Test func aLiveResizeChangesRunningInstancesWithoutARestartAndLaterOnesToo() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("resize")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: Self.spec).status == .created)
        let before = try await agent.scale(service, to: 2).decode(ScaleResult.self).instances
        for instance in before {
            #expect(try await limits(of: instance.unit, bed.systemd) == (50, 256 << 20))
        }

        let resized = try await put(agent, service, #"{"cpuPercent": 150, "memoryBytes": 536870912}"#)
        #expect(resized.status == .ok, "\(resized.text)")
        let info = try resized.decode(InstanceLimitsInfo.self)
        #expect(info.limits == InstanceLimits(cpuPercent: 150, memoryBytes: 512 << 20))
        #expect(info.instances.map(\.mainPID) == before.map(\.mainPID), "no instance restarted")
        #expect(info.instances.allSatisfy { $0.cpuQuotaPercent == 150 && $0.memoryMaxBytes == 512 << 20 })
        for instance in before {
            #expect(try await limits(of: instance.unit, bed.systemd) == (150, 512 << 20), "\(instance.unit) resized live")
        }

        // A new instance, and the policy after an agent restart, keep the resize.
        let three = try await agent.scale(service, to: 3).decode(ScaleResult.self).instances
        let added = try #require(three.first { $0.slot == 3 })
        #expect(try await limits(of: added.unit, bed.systemd) == (150, 512 << 20))
        await agent.crash()
        try await agent.restart()
        #expect(try await agent.request(.GET, "/v1/services/\(service)/limits").decode(InstanceLimitsInfo.self).limits?.cpuPercent == 150)

        // Only memory: CPU goes back to the spec's.
        #expect(try await put(agent, service, #"{"memoryBytes": 134217728}"#).status == .ok)
        #expect(try await limits(of: added.unit, bed.systemd) == (50, 128 << 20))

        // Removed: every instance back to its release's limits, still without a restart; an
        // instance started afterwards in a slot that ran resized gets the spec's too.
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)/limits").status == .noContent)
        #expect(try await agent.scale(service, to: 2).status == .ok)
        let after = try await agent.scale(service, to: 3).decode(ScaleResult.self).instances
        #expect(after.prefix(2).map(\.mainPID) == before.map(\.mainPID))
        for instance in after {
            #expect(try await limits(of: instance.unit, bed.systemd) == (50, 256 << 20), "\(instance.unit) back to the spec")
        }
        let kinds = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self).map(\.kind)
        #expect(kinds.filter { $0 == "limits.set" }.count == 2 && kinds.contains("limits.removed"))
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func badLimitsAreRefusedAndChangeNothing() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("badlimits")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: Self.spec).status == .created)
        let state = { try await agent.hostState().filter { !$0.hasPrefix("unit: ") || $0.contains(service) } }
        let before = try await state()
        let cases: [(String, String, Int, String)] = [
            (service, #"{}"#, 400, "invalid_limits"),
            (service, #"{"cpuPercent": 0}"#, 400, "invalid_limits"),
            (service, #"{"memoryBytes": 1000}"#, 400, "invalid_limits"),
            (service, #"{"cpuPercent": "lots"}"#, 400, "invalid_body"),
            ("no-such-service", #"{"cpuPercent": 100}"#, 404, "unknown_service"),
        ]
        for (target, body, status, code) in cases {
            let reply = try await put(agent, target, body)
            #expect(Int(reply.status.code) == status && reply.errorCode == code, "\(body): \(reply.status) \(reply.text)")
        }
        let none = try await agent.request(.DELETE, "/v1/services/\(service)/limits")
        #expect(none.status == .notFound && none.errorCode == "not_resized", "\(none.text)")
        await #expect(try state() == before)
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }
}
