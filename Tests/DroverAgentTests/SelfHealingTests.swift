import AsyncHTTPClient
@testable import DroverAgent
import DroverAPI
import DroverCore
import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// The reconciler keeps each service at its wanted state, whatever happens behind the agent's
/// back: crashes past systemd's start limit, an agent killed mid-change, unit files deleted or
/// edited, a delete racing a rollout, and many concurrent writers.
///
/// Serialized: the tests share a manager, and a `daemon-reload` (which other tests cause)
/// resets systemd's start-limit counters, which the crash test drives to their end.
@Suite(.userManager, .serialized, .timeLimit(.minutes(10)))
struct SelfHealingTests {
    static let fixture = try! Data(contentsOf: URL(fileURLWithPath: fixturePath))
    /// systemd gives up after 2 starts within 60 s, at once (no restart delay).
    static let fragileSpec = #"{"binary": "web", "type": "notify", "restart": {"mode": "on-failure", "delaySeconds": 0, "burst": 2, "intervalSeconds": 60}}"#

    func unit(_ service: String, _ version: String, _ slot: Int) -> String { "drover-\(service)_\(version)@\(slot).service" }

    /// SIGKILLs `victim`'s main process again and again (after each restart) until it stays
    /// down (`isDown`), at most 10 rounds. Returns when it went down (nil if it never did),
    /// how many kills that took, and the states seen.
    func killRepeatedly(_ victim: String, on systemd: SystemdClient, until isDown: @escaping @Sendable (UnitStatus) -> Bool) async throws
        -> (downAt: ContinuousClock.Instant?, kills: Int, seen: [String]) {
        var seen: [String] = [], kills = 0
        for _ in 0..<10 {
            let status = try await systemd.status(of: victim)
            seen.append("\(status.activeState)/\(status.subState)/\(status.result ?? "-")/\(status.mainPID ?? 0)")
            if isDown(status) { return (.now, kills, seen) }
            if let pid = status.mainPID, status.isActive {
                kill(pid, SIGKILL)
                kills += 1
                _ = await waitUntil(timeout: .seconds(5)) { (try? await systemd.status(of: victim))?.mainPID != pid }
            }
            _ = await waitUntil(timeout: .seconds(5)) { (try? await systemd.status(of: victim)).map { $0.isActive || isDown($0) } ?? false }
        }
        return (nil, kills, seen)
    }

    @Test func anInstanceCrashedPastItsStartLimitIsBackWithin15SecondsWithTheReason() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("crashy")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: Self.fragileSpec).status == .created)
        #expect(try await agent.scale(service, to: 2).status == .ok)
        let victim = unit(service, "1", 2)

        // Killed again and again until systemd stops restarting it.
        let killed = try await killRepeatedly(victim, on: bed.systemd) { $0.isFailed }
        let failed = try #require(killed.downAt, "systemd gave up on \(victim): \(killed.seen)")
        let result = try #require(try await bed.systemd.status(of: victim).result)

        // While it waits out its back-off, the API says so, and why.
        let shown = await waitUntil(timeout: .seconds(5)) {
            let instances = try? await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
            return instances?.first { $0.slot == 2 }?.crashLoop?.contains("next try in") == true
        }
        #expect(shown, "the instance shows as crash-looping")

        let back = await waitUntil(timeout: .seconds(20), interval: .milliseconds(100)) {
            (try? await bed.systemd.status(of: victim))?.isActive == true
        }
        #expect(back)
        #expect(ContinuousClock.now - failed < .seconds(15), "back within 15 s of failing: \(ContinuousClock.now - failed)")
        let events = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        let crashed = events.first { $0.kind == "instance.crashed" }
        #expect(crashed?.message.contains(victim) == true && crashed?.message.contains(result) == true, "\(events.map(\.message))")
        #expect(events.contains { $0.kind == "reconcile" && $0.message.contains("started again") }, "\(events.map(\.message))")
        let instances = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(instances.map(\.slot) == [1, 2] && instances.allSatisfy { $0.activeState == "active" && $0.crashLoop == nil })
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func aListenServiceCrashedPastItsStartLimitKeepsItsSocketHealsAndStaysDeployable() async throws {
        // systemd stops a socket whose service hits its start limit, and the port stays held
        // by the instances still running: the socket could never listen again.
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("sockloop")
        let port = try freeLoopbackPort()
        let spec = #"{"binary": "web", "type": "notify", "listen": "127.0.0.1:\#(port)", "restart": {"mode": "on-failure", "delaySeconds": 0, "burst": 2, "intervalSeconds": 60}}"#
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: spec).status == .created)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: spec).status == .created)
        #expect(try await agent.scale(service, to: 2).status == .ok)
        let socket = "drover-\(service).socket", victim = unit(service, "1", 2)
        let client = try TrafficClient.start(port: port, work: bed.manager.root + "/\(service)-client")
        #expect(await waitUntil { client.progress()["1"] != nil }, "the client is served")

        // Killed again and again until the agent stops it at its start limit.
        let killed = try await killRepeatedly(victim, on: bed.systemd) { $0.activeState == "inactive" || $0.isFailed }
        let stopped = try #require(killed.downAt, "the agent stopped \(victim) at its start limit: \(killed.seen)")
        let kills = killed.kills
        #expect(try await bed.systemd.status(of: socket).isActive, "the shared socket still listens")
        let shown = await waitUntil(timeout: .seconds(5)) {
            let instances = try? await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
            return instances?.first { $0.slot == 2 }?.crashLoop?.contains("start limit") == true
        }
        #expect(shown, "the instance shows as crash-looping, at its start limit")

        // Back within the back-off, through the same socket.
        let back = await waitUntil(timeout: .seconds(20), interval: .milliseconds(100)) {
            (try? await bed.systemd.status(of: victim))?.isActive == true
        }
        #expect(back)
        #expect(ContinuousClock.now - stopped < .seconds(15), "back within 15 s: \(ContinuousClock.now - stopped)")
        #expect(try await bed.systemd.status(of: socket).isActive)

        // Still deployable: a scale and a rolling deploy work, and the client saw no failure.
        let scaled = try await agent.scale(service, to: 3)
        #expect(scaled.status == .ok, "\(scaled.text)")
        let deployment = try await agent.deploy(service, #"{"version": "2", "strategy": {"maxSurge": 1, "minHealthySeconds": 0.2}}"#)
            .decode(DeploymentInfo.self)
        #expect(try await agent.finished(deployment).state == .succeeded)
        #expect(await waitUntil { (client.progress()["2"] ?? 0) > 0 }, "the client reaches v2")
        let result = try await client.finish()
        // A SIGKILLed instance drops the one request it had in hand (the client asks one at a
        // time); a socket that stopped listening would refuse connections.
        #expect(result.refused == 0 && result.failed <= kills, "no connection refused through the socket, at most one reset per kill: \(result.errors)")
        #expect(result.ok > 50, "enough traffic to mean something: \(result.ok)")
        let events = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        #expect(events.contains { $0.kind == "instance.crashed" && $0.message.contains("start limit") }, "\(events.map(\.message))")
        #expect(!events.contains { $0.kind == "socket.failed" }, "\(events.map(\.message))")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func aSharedSocketStoppedByHandIsExplainedAndListensAgainOnceItsPortIsFree() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("sockhand")
        let port = try freeLoopbackPort()
        let spec = #"{"binary": "web", "type": "notify", "listen": "127.0.0.1:\#(port)"}"#
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: spec).status == .created)
        #expect(try await agent.scale(service, to: 2).status == .ok)
        let socket = "drover-\(service).socket"
        try await bed.systemd.stopUnit(socket)

        // The port is held by the service's own instances: the advice says so, not "another process".
        let refused = try await agent.scale(service, to: 3)
        #expect(refused.status == .conflict && refused.text.contains("socket_failed"), "\(refused.text)")
        #expect(refused.text.contains("still hold the port") && refused.text.contains("to 0 and back"), "\(refused.text)")
        #expect(!refused.text.contains("another listen address"), "\(refused.text)")

        // Following it works: with no instance left, the agent lets the socket listen again.
        #expect(try await agent.scale(service, to: 0).status == .ok)
        let back = try await agent.scale(service, to: 2)
        #expect(back.status == .ok, "\(back.text)")
        #expect(try await bed.systemd.status(of: socket).isActive)
        let answered = await waitUntil(timeout: .seconds(10)) {
            guard let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"), timeout: .seconds(2)) else { return false }
            return response.status == .ok
        }
        #expect(answered, "the service answers through its socket again")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func anAgentKilledAfterRecordingAScaleConvergesOnStart() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("intent")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        #expect(try await agent.scale(service, to: 1).status == .ok)

        // The agent dies right after recording a new count, before starting anything: the
        // store says 3, systemd runs 1.
        await agent.crash()
        let store = try StateStore(path: agent.stateDirectory + "/state.sqlite")
        try await store.setDesiredInstances(3, of: try ServiceName(service))
        try await store.record("scale", service: try ServiceName(service), "instances 1 → 3 (test: the agent was killed before starting them)")
        #expect(try await bed.systemd.listUnits(matching: ["drover-\(service)_*"], states: ["active"]).count == 1)

        try await agent.restart()
        let converged = await waitUntil(timeout: .seconds(15), interval: .milliseconds(50)) {
            (try? await bed.systemd.listUnits(matching: ["drover-\(service)_*"], states: ["active"]).count) == 3
        }
        #expect(converged)
        let events = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        #expect(events.filter { $0.kind == "reconcile" && $0.message.contains("started") }.count == 2, "\(events.map(\.message))")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func unitFilesDeletedOrEditedBehindTheAgentsBackAreRestoredWithinOneReconcile() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(extraConfig: "reconcile_interval_seconds = 1")
        let service = uniqueService("drift")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        #expect(try await agent.scale(service, to: 1).status == .ok)
        let directory = bed.manager.unitDirectory
        let current = directory + "/drover-\(service)_1@.service", other = directory + "/drover-\(service)_2@.service"
        let slice = directory + "/" + UnitNames.slice(try ServiceName(service))
        let originals = try [current, other, slice].map { try String(contentsOfFile: $0, encoding: .utf8) }

        try FileManager.default.removeItem(atPath: current)
        try (originals[1] + "\nExecStartPre=/bin/false\n").write(toFile: other, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: slice)

        let restored = await waitUntil(timeout: .seconds(5), interval: .milliseconds(50)) {
            (try? [current, other, slice].map { try String(contentsOfFile: $0, encoding: .utf8) }) == originals
        }
        #expect(restored, "the files are back as the releases render them")
        let names = ["drover-\(service)_1@.service", "drover-\(service)_2@.service", UnitNames.slice(try ServiceName(service))]
        var messages = ""
        let recorded = await waitUntil(timeout: .seconds(5)) {
            let events = (try? await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)) ?? []
            messages = events.filter { $0.kind == "unit.restored" }.map(\.message).joined(separator: "\n")
            return names.allSatisfy { messages.contains($0) }
        }
        #expect(recorded, "each restore is an event naming the file: \(messages)")
        // systemd was told: it reads the restored files, not the edited ones.
        let reloaded = await waitUntil(timeout: .seconds(5)) {
            let properties = try? await bed.systemd.properties(of: unit(service, "2", 9), interface: "org.freedesktop.systemd1.Unit")
            return properties?["NeedDaemonReload"]?.bool == false
        }
        #expect(reloaded)
        #expect(try await agent.scale(service, to: 2).status == .ok, "the service still scales")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func aNewerReleasesSharedUnitsAreNotMistakenForDrift() async throws {
        // Each upload writes the service's slice; the reconciler must not take a newer
        // release's slice for an edit and "restore" it.
        let bed = try Bed.require()
        let agent = try await bed.agent(extraConfig: "reconcile_interval_seconds = 1")
        let service = uniqueService("shared")
        let spec = { (percent: Int) in #"{"binary": "web", "type": "notify", "resources": {"serviceCPUPercent": \#(percent)}}"# }
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: spec(50)).status == .created)
        #expect(try await agent.scale(service, to: 1).status == .ok)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: spec(80)).status == .created)
        let slice = bed.manager.unitDirectory + "/" + UnitNames.slice(try ServiceName(service))
        let written = try String(contentsOfFile: slice, encoding: .utf8)
        #expect(written.contains("CPUQuota=80%"), "\(written)")
        // Three ticks: nothing is rewritten, and no restore is claimed.
        let claimed = await waitUntil(timeout: .seconds(3), interval: .milliseconds(200)) {
            let events = (try? await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)) ?? []
            return events.contains { $0.kind == "unit.restored" }
        }
        #expect(!claimed, "no unit.restored event")
        #expect(try String(contentsOfFile: slice, encoding: .utf8) == written)
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func deleteDuringARolloutLeavesNoUnitProcessOrRowBehind() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("gone")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        #expect(try await agent.scale(service, to: 3).status == .ok)
        let slow = #"{"binary": "web", "type": "notify", "arguments": ["--start-delay", "1"]}"#
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: slow).status == .created)
        let deployment = try await agent.deploy(service, #"{"version": "2", "strategy": {"maxSurge": 3, "minHealthySeconds": 5}}"#).decode(DeploymentInfo.self)
        // Mid-rollout: new instances are starting.
        #expect(await waitUntil(timeout: .seconds(10)) {
            (try? await bed.systemd.listUnits(matching: ["drover-\(service)_2@*"]).isEmpty) == false
        })
        var pids = Set<Int32>()
        for unit in try await bed.systemd.listUnits(matching: ["drover-\(service)_*"]) {
            if let pid = try? await bed.systemd.status(of: unit.name).mainPID { pids.insert(pid) }
        }

        let deleted = try await agent.request(.DELETE, "/v1/services/\(service)")
        #expect(deleted.status == .noContent, "\(deleted.text)")

        // Nothing is left, and nothing comes back once the cancelled rollout's starts are over.
        let leftovers: () async throws -> [String] = {
            var left = try await bed.systemd.listUnits(matching: ["drover-\(service)_*", "drover-\(service).*"])
                .filter(\.isInUse).map(\.name)
            left += try FileManager.default.contentsOfDirectory(atPath: bed.manager.unitDirectory).filter { $0.contains(service) }
            if FileManager.default.fileExists(atPath: agent.stateDirectory + "/services/\(service)") { left.append("release files") }
            return left
        }
        let left = try await leftovers()
        #expect(left.isEmpty, "\(left)")
        for pid in pids { #expect(await waitUntil(timeout: .seconds(10)) { !isProcessRunning(pid) }, "pid \(pid) ended") }
        let cameBack = await waitUntil(timeout: .seconds(3), interval: .milliseconds(100)) { (try? await leftovers().isEmpty) != true }
        #expect(!cameBack, "no instance came back")

        #expect(try await agent.request(.GET, "/v1/services/\(service)").status == .notFound)
        #expect(try await agent.request(.GET, "/v1/deployments/\(deployment.id)").status == .notFound)
        let store = try StateStore(path: agent.stateDirectory + "/state.sqlite")
        await #expect(try store.service(try ServiceName(service)) == nil)
        await #expect(try store.releases(of: try ServiceName(service)).isEmpty)
        await #expect(try store.allPorts(of: try ServiceName(service)).isEmpty)
        await #expect(try store.autoscalePolicies().allSatisfy { $0.service.rawValue != service })
        await agent.stop()
    }

    @Test func fiftyConcurrentAutoscalePutsLeaveStoreAndLoopAgreeing() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("race")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        #expect(try await agent.scale(service, to: 1).status == .ok)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for max in 2...51 {
                group.addTask {
                    let body = #"{"min": 1, "max": \#(max), "cpu": 0.5, "intervalSeconds": 1}"#
                    let reply = try await agent.request(.PUT, "/v1/services/\(service)/autoscale", body: Data(body.utf8))
                    #expect(reply.status == .ok, "\(reply.text)")
                }
            }
            try await group.waitForAll()
        }
        let served = try await agent.request(.GET, "/v1/services/\(service)/autoscale").decode(AutoscaleInfo.self).policy
        let stored = try await StateStore(path: agent.stateDirectory + "/state.sqlite").autoscalePolicies()
            .first { $0.service.rawValue == service }.map { try $0.policy.get() }
        #expect(served != nil && served == stored, "the loop runs \(String(describing: served?.max)), the store holds \(String(describing: stored?.max))")
        // The loop runs that policy: its decisions carry it, and a restart keeps it.
        #expect(await waitUntil(timeout: .seconds(5)) {
            let info = try? await agent.request(.GET, "/v1/services/\(service)/autoscale").decode(AutoscaleInfo.self)
            return info.map { !$0.decisions.isEmpty && $0.policy == served } ?? false
        })
        await agent.stop()
        try await agent.restart()
        #expect(try await agent.request(.GET, "/v1/services/\(service)/autoscale").decode(AutoscaleInfo.self).policy == served)
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }
}
