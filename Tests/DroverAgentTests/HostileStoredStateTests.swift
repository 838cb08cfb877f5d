import DroverAPI
import DroverTestbed
import Foundation
import GRDB
import Testing

/// No stored state keeps the agent from starting. The store is written behind the agent's back
/// with what an older agent (with looser checks) could have stored, or what once crashed it:
/// the agent starts, serves, sets the bad record aside, and says so in its event log.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct HostileStoredStateTests {
    static let fixture = AgentLifecycleTests.fixture

    /// Runs SQL on a stopped agent's store.
    func write(_ agent: AgentProcess, _ sql: String, _ arguments: StatementArguments = []) throws {
        let queue = try DatabaseQueue(path: agent.stateDirectory + "/state.sqlite")
        try queue.write { try $0.execute(sql: sql, arguments: arguments) }
        try queue.close()
    }

    @Test func theAgentStartsOverAPolicyThatOnceCrashedItAndTurnsItOff() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("hostile")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        let instances = try await agent.scale(service, to: 1).decode(ScaleResult.self).instances
        let policy = try await agent.request(.PUT, "/v1/services/\(service)/autoscale", body: Data(#"{"min": 1, "max": 3, "cpu": 0.5}"#.utf8),
                                             headers: [("Content-Type", "application/json")])
        #expect(policy.status == .ok, "\(policy.text)")
        await agent.stop()

        // A cpu target of 1e-300 cores and a step of Int.max: the autoscaler's arithmetic trapped
        // on these at every start, so the agent could never come up again.
        let hostile = #"{"min": 1, "max": 3, "cpu": 1e-300, "maxStepUp": 9223372036854775807, "intervalSeconds": 0.1}"#
        try write(agent, "UPDATE autoscale_policies SET policy = ? WHERE service = ?", [hostile, service])
        try await agent.restart()

        #expect(agent.isRunning)
        let info = try await agent.request(.GET, "/v1/services/\(service)/autoscale").decode(AutoscaleInfo.self)
        #expect(info.policy == nil, "the refused policy is off: \(String(describing: info.policy))")
        let events = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        let disabled = try #require(events.last { $0.kind == "autoscale.disabled" })
        #expect(disabled.message.contains("1e-300") && disabled.message.contains("cpu"), "the event says what was refused: \(disabled.message)")
        let now = try await agent.request(.GET, "/v1/services/\(service)").decode(ServiceInfo.self)
        #expect(now.instances.map(\.mainPID) == instances.map(\.mainPID), "the service ran on untouched")
        // Autoscaling can be turned on again with a good policy.
        let again = try await agent.request(.PUT, "/v1/services/\(service)/autoscale", body: Data(#"{"min": 1, "max": 2, "cpu": 0.5}"#.utf8),
                                            headers: [("Content-Type", "application/json")])
        #expect(again.status == .ok, "\(again.text)")
        await agent.stop()
    }

    @Test func tokenRowsOfTheWrongShapeGrantNothingAndStopNothing() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let good = try await agent.addToken("good", scope: "read")
        await agent.stop()
        // A scope this agent does not know, a hash stored as a number, a name as a blob, and a
        // token whose hash is right but whose scope is unreadable.
        let sneaky = "drover_" + String(repeating: "5", count: 64)
        try write(agent, "INSERT INTO tokens (name, scope, hash, created_at) VALUES ('root', 'superuser', ?, 'yesterday')",
                  [Data(SHA256Digest.of(Data(sneaky.utf8)))])
        try write(agent, "INSERT INTO tokens (name, scope, hash, created_at) VALUES ('numeric', 'admin', 12345, 42)")
        try write(agent, "INSERT INTO tokens (name, scope, hash, created_at, last_used_at) VALUES (x'00ff', 'admin', x'0102', x'ff', 3.5)")
        try await agent.restart()

        #expect(agent.isRunning)
        #expect(try await agent.request(.GET, "/v1/services", token: sneaky).status == .unauthorized, "an unknown scope grants nothing")
        #expect(try await agent.request(.GET, "/v1/services", token: good).status == .ok)
        #expect(try await agent.request(.GET, "/v1/services").status == .ok)
        let list = try await agent.tokenCommand(["list"])
        #expect(list.status == 0 && list.output.contains("unreadable"), "\(list.output)")
        await agent.stop()
    }

    @Test func anUnfinishedDeploymentWhoseRecordNoLongerReadsIsMarkedFailedNotResumed() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("stale")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture).status == .created)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture).status == .created)
        await agent.stop()

        // A rollout left running, its strategy beyond any range today's agent accepts.
        let id = UUID().uuidString.lowercased()
        try write(agent, """
            INSERT INTO deployments (id, service, from_version, to_version, instances, strategy, state, created_at, updated_at)
            VALUES (?, ?, '1', '2', 1, ?, 'running', datetime('now'), datetime('now'))
            """, [id, service, #"{"maxSurge": 9223372036854775807, "maxUnavailable": 0, "minHealthySeconds": 1e300, "deadlineSeconds": 1e301, "autoRevert": true}"#])
        try await agent.restart()

        #expect(agent.isRunning)
        let events = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        let failed = try #require(events.last { $0.kind == "deployment.failed" })
        #expect(failed.message.contains(id) && failed.message.contains("could not read"), "\(failed.message)")
        let instances = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(instances.isEmpty, "nothing was started for it: \(instances.map(\.unit))")
        // The service takes a new deployment at once: nothing is left holding it.
        let next = try await agent.deploy(service, #"{"version": "2", "instances": 1}"#)
        #expect(next.status == .accepted, "\(next.text)")
        _ = try await agent.finished(try next.decode(DeploymentInfo.self))
        await agent.stop()
    }
}
