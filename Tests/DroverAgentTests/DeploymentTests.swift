import AsyncHTTPClient
import DroverAPI
import DroverTestbed
import Foundation
import Synchronization
import Testing

/// Rolling deploys through the real agent and a real manager.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct DeploymentTests {
    static let fixture = AgentLifecycleTests.fixture
    /// For rollouts that succeed: the deadline is not what they test, and on a loaded CI machine
    /// a new instance once took more than 5 s to become ready.
    static let strategy = #""strategy": {"maxSurge": 1, "maxUnavailable": 0, "minHealthySeconds": 0.2, "deadlineSeconds": 60}"#
    /// For rollouts that fail: one that never becomes ready fails by this deadline.
    static let failingStrategy = #""strategy": {"maxSurge": 1, "maxUnavailable": 0, "minHealthySeconds": 0.2, "deadlineSeconds": 10}"#

    static func spec(_ arguments: [String] = [], health: Bool = true) -> String {
        let args = arguments.map { "\"\($0)\"" }.joined(separator: ", ")
        return #"{"binary": "web", "type": "notify", "arguments": [\#(args)]\#(health ? #", "health": {"path": "/healthz"}"# : "")}"#
    }

    /// An agent with `service` at v1, 4 instances running.
    func agentWithV1(_ bed: Bed, _ service: String, extraConfig: String = "") async throws -> (AgentProcess, [InstanceInfo]) {
        let agent = try await bed.agent(extraConfig: extraConfig)
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: Self.spec()).status == .created)
        let instances = try await agent.scale(service, to: 4).decode(ScaleResult.self).instances
        #expect(instances.count == 4)
        return (agent, instances)
    }

    /// The first deployment of a service has nothing to go back to: its first upload became
    /// current, but a failure must not "revert" to the very release that failed.
    @Test func aFailingFirstDeploymentFailsWithoutRevertingToItself() async throws {
        let bed = try Bed.require()
        let service = uniqueService("first")
        let agent = try await bed.agent()
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: Self.spec(["--exit-code", "3"])).status == .created)
        let started = try await agent.deploy(service, #"{"version": "1", "instances": 1, \#(Self.failingStrategy)}"#)
        let deployment = try started.decode(DeploymentInfo.self)
        #expect(deployment.fromVersion == nil, "nothing ran before")
        let done = try await agent.finished(deployment)
        #expect(done.state == .failed)
        #expect(done.reason?.contains("revert") == false, "no revert to the failing release itself: \(done.reason ?? "")")
        let events = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        #expect(!events.contains { $0.kind == "deployment.reverting" })
        await agent.stop()
    }

    @Test func aGoodRollingDeployReplacesEveryInstanceWithoutDroppingBelowTheCount() async throws {
        let bed = try Bed.require()
        let service = uniqueService("roll")
        let (agent, before) = try await agentWithV1(bed, service)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: Self.spec()).status == .created)

        let started = try await agent.deploy(service, #"{"version": "2", \#(Self.strategy)}"#)
        #expect(started.status == .accepted, "\(started.text)")
        let deployment = try started.decode(DeploymentInfo.self)
        #expect(deployment.state == .running)
        #expect(deployment.fromVersion?.rawValue == "1")

        // Follow it live, as an operator would; the stream ends when the deployment does.
        async let followed = agent.request(.GET, "/v1/deployments/\(deployment.id)/events")

        // Sample the service while it rolls: never fewer than 4 active, never more than 5.
        let fewest = Mutex(Int.max), most = Mutex(0), samples = Mutex(0), busiest = Mutex("")
        async let sampling: Void = {
            while (try? await agent.request(.GET, "/v1/deployments/\(deployment.id)").decode(DeploymentInfo.self).isFinished) == false {
                let instances = (try? await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)) ?? []
                let active = instances.filter { $0.activeState == "active" }.count
                fewest.withLock { $0 = min($0, active) }
                if most.withLock({ let more = active > $0; $0 = max($0, active); return more }) {
                    busiest.withLock { $0 = instances.map { "\($0.version)@\($0.slot) \($0.activeState)/\($0.subState) pid \($0.mainPID ?? 0)" }.joined(separator: ", ") }
                }
                samples.withLock { $0 += 1 }
            }
        }()
        let done = try await agent.finished(deployment)
        await sampling
        #expect(samples.withLock { $0 } >= 3, "the sampler saw the rollout in progress")

        let lines = try await followed.text.split(separator: "\n")
        let streamed = lines.dropLast().compactMap { try? JSONDecoder.droverAPI.decode(EventInfo.self, from: Data($0.utf8)) }
        #expect(streamed.filter { $0.kind == "deployment.step" }.count >= 4, "every step is in the stream")
        #expect(streamed.last?.kind == "deployment.succeeded", "the outcome's event is not lost: \(streamed.map(\.kind))")
        // Progress comes in the stream too (the CLI's board is drawn from it, not by polling).
        let progress = streamed.filter { $0.kind == "deployment.progress" }.map(\.message)
        #expect(progress.last?.hasSuffix("4 of 4 instances of 2 healthy") == true, "\(progress)")
        #expect(progress.count >= 2, "progress as instances become healthy: \(progress)")
        let final = try JSONDecoder.droverAPI.decode(DeploymentInfo.self, from: Data(try #require(lines.last).utf8))
        #expect(final.state == .succeeded, "the stream ends with the finished deployment")
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(fewest.withLock { $0 } >= 4, "never fewer than 4 serving")
        #expect(most.withLock { $0 } <= 5, "never more than count + maxSurge; at the most: \(busiest.withLock { $0 })")

        let after = try await agent.request(.GET, "/v1/services/\(service)").decode(ServiceInfo.self)
        #expect(after.currentVersion?.rawValue == "2")
        #expect(after.desiredInstances == 4)
        #expect(after.instances.count == 4 && after.instances.allSatisfy { $0.version.rawValue == "2" && $0.activeState == "active" })
        #expect(Set(after.instances.compactMap(\.mainPID)).isDisjoint(with: before.compactMap(\.mainPID)))
        let events = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        #expect(events.filter { $0.kind == "deployment.step" }.count >= 4, "every step was recorded")
        #expect(events.last?.kind == "deployment.succeeded")
        await agent.stop()
    }

    struct Failure: Sendable, CustomTestStringConvertible {
        let name: String
        let arguments: [String]
        let restart: Bool
        /// The reason must contain one of these (timing decides which true description it gets).
        let expected: [String]
        /// Whether it never becomes healthy at all. A release that does (for a moment) may,
        /// on a slow machine, replace some v1 instances before it fails; they come back.
        var neverHealthy = false
        var testDescription: String { name }
    }

    @Test(arguments: [
        Failure(name: "fails at start", arguments: ["--print", "cannot open the database", "--exit-code", "3"], restart: false,
                expected: ["cannot open the database"], neverHealthy: true),
        Failure(name: "exits after a while", arguments: ["--exit-after", "0.1"], restart: false,
                expected: ["exited with status 1", "crashed and was restarted"]),
        Failure(name: "never becomes ready", arguments: ["--never-ready"], restart: false, expected: ["was not healthy"], neverHealthy: true),
        Failure(name: "turns unhealthy", arguments: ["--unhealthy-after", "0.1"], restart: false, expected: ["health check /healthz"]),
        Failure(name: "crash-loops", arguments: ["--exit-after", "0.05"], restart: true, expected: ["restart", "exited with status 1"]),
    ])
    func aBadReleaseIsRevertedWithTheReason(_ failure: Failure) async throws {
        let bed = try Bed.require()
        let service = uniqueService("bad")
        let (agent, before) = try await agentWithV1(bed, service)
        var spec = Self.spec(failure.arguments)
        if failure.restart { spec = spec.replacingOccurrences(of: #""binary""#, with: #""restart": {"mode": "always", "delaySeconds": 0, "burst": 50, "intervalSeconds": 60}, "binary""#) }
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: spec).status == .created)

        let deployment = try await agent.deploy(service, #"{"version": "2", \#(Self.failingStrategy)}"#).decode(DeploymentInfo.self)
        let done = try await agent.finished(deployment)
        #expect(done.state == .failed)
        let reason = done.reason ?? ""
        #expect(failure.expected.contains { reason.contains($0) }, "\(failure.name): \(reason)")
        #expect(reason.contains("reverted to 1"), "\(reason)")

        let after = try await agent.request(.GET, "/v1/services/\(service)").decode(ServiceInfo.self)
        #expect(after.currentVersion?.rawValue == "1")
        #expect(after.instances.map(\.version.rawValue) == ["1", "1", "1", "1"], "\(after.instances.map(\.unit))")
        if failure.neverHealthy {
            #expect(after.instances.map(\.mainPID) == before.map(\.mainPID), "v1 was never touched (maxUnavailable 0)")
        }
        #expect(after.instances.allSatisfy { $0.activeState == "active" })
        await agent.stop()
    }

    @Test func rollbackGoesToThePreviousOrANamedRelease() async throws {
        let bed = try Bed.require()
        let service = uniqueService("back")
        let (agent, _) = try await agentWithV1(bed, service)
        for version in ["2", "3"] {
            #expect(try await agent.upload(service, version, artifact: Self.fixture, spec: Self.spec()).status == .created)
            let deployment = try await agent.deploy(service, #"{"version": "\#(version)", \#(Self.strategy)}"#).decode(DeploymentInfo.self)
            #expect(try await agent.finished(deployment).state == .succeeded)
        }
        let back = try await agent.request(.POST, "/v1/services/\(service)/rollback")
        #expect(back.status == .accepted, "\(back.text)")
        let toTwo = try await agent.finished(try back.decode(DeploymentInfo.self))
        #expect(toTwo.state == .succeeded && toTwo.toVersion.rawValue == "2")

        let named = try await agent.request(.POST, "/v1/services/\(service)/rollback", body: Data(#"{"to": "1"}"#.utf8))
        let toOne = try await agent.finished(try named.decode(DeploymentInfo.self))
        #expect(toOne.state == .succeeded && toOne.toVersion.rawValue == "1")
        let instances = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(instances.count == 4 && instances.allSatisfy { $0.version.rawValue == "1" })

        let unknown = try await agent.request(.POST, "/v1/services/\(service)/rollback", body: Data(#"{"to": "9"}"#.utf8))
        #expect(unknown.status == .notFound)
        #expect(unknown.errorCode == "unknown_release")
        await agent.stop()
    }

    @Test func aSecondDeployWhileOneRunsIsRefusedNamingIt() async throws {
        let bed = try Bed.require()
        let service = uniqueService("busy")
        let (agent, _) = try await agentWithV1(bed, service)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: Self.spec(["--start-delay", "1"])).status == .created)
        let first = try await agent.deploy(service, #"{"version": "2", \#(Self.strategy)}"#)
            .decode(DeploymentInfo.self)
        let second = try await agent.deploy(service, #"{"version": "1"}"#)
        #expect(second.status == .conflict)
        #expect(second.errorCode == "deployment_running")
        #expect(second.text.contains(first.id))
        let scale = try await agent.scale(service, to: 2)
        #expect(scale.status == .conflict, "no scaling under a running deployment")
        #expect(try await agent.finished(first).state == .succeeded)
        await agent.stop()
    }

    @Test func aDeployCanSupersedeTheOneRunning() async throws {
        let bed = try Bed.require()
        let service = uniqueService("over")
        let (agent, _) = try await agentWithV1(bed, service)
        // Stuck in its start (not yet listening); the next test covers instances that already listen.
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: Self.spec(["--start-delay", "60"])).status == .created)
        #expect(try await agent.upload(service, "3", artifact: Self.fixture, spec: Self.spec()).status == .created)
        let stuck = try await agent.deploy(service, #"{"version": "2", "strategy": {"deadlineSeconds": 60}}"#).decode(DeploymentInfo.self)
        let replacing = try await agent.deploy(service, #"{"version": "3", "supersede": true, \#(Self.strategy)}"#)
        #expect(replacing.status == .accepted, "\(replacing.text)")
        let replaced = try await agent.finished(try replacing.decode(DeploymentInfo.self))
        #expect(replaced.state == .succeeded, "\(replaced.reason ?? "")")
        let first = try await agent.request(.GET, "/v1/deployments/\(stuck.id)").decode(DeploymentInfo.self)
        #expect(first.state == .superseded)
        let instances = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(instances.count == 4 && instances.allSatisfy { $0.version.rawValue == "3" }, "\(instances.map(\.unit))")
        await agent.stop()
    }

    @Test func aDeployCanSupersedeOneWhoseInstancesAlreadyListen() async throws {
        let bed = try Bed.require()
        let service = uniqueService("overlisten")
        let (agent, _) = try await agentWithV1(bed, service)
        // v2's instances start, listen and answer, but never pass their health check: the
        // rollout waits on them while v3 takes over the same slots' ports.
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: Self.spec(["--unhealthy-after", "0"])).status == .created)
        #expect(try await agent.upload(service, "3", artifact: Self.fixture, spec: Self.spec()).status == .created)
        let stuck = try await agent.deploy(service, #"{"version": "2", "strategy": {"maxSurge": 2, "deadlineSeconds": 60}}"#).decode(DeploymentInfo.self)
        #expect(await waitUntil(timeout: .seconds(10)) {
            let now = try? await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
            return (now?.filter { $0.version.rawValue == "2" && $0.activeState == "active" }.count ?? 0) >= 2
        })
        let replacing = try await agent.deploy(service, #"{"version": "3", "supersede": true, \#(Self.strategy)}"#)
        #expect(replacing.status == .accepted, "\(replacing.text)")
        let replaced = try await agent.finished(try replacing.decode(DeploymentInfo.self))
        #expect(replaced.state == .succeeded, "\(replaced.reason ?? "")")
        #expect(try await agent.request(.GET, "/v1/deployments/\(stuck.id)").decode(DeploymentInfo.self).state == .superseded)
        let instances = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(instances.count == 4 && instances.allSatisfy { $0.version.rawValue == "3" && $0.activeState == "active" }, "\(instances.map(\.unit))")
        await agent.stop()
    }

    @Test func twoServicesDeployAtOnceWithoutTouchingAThird() async throws {
        let bed = try Bed.require()
        let (agent, _) = try await agentWithV1(bed, uniqueService("bystander"))
        let bystander = try await agent.request(.GET, "/v1/services").decode([ServiceInfo].self)[0]
        let services = [uniqueService("one"), uniqueService("two")]
        for service in services {
            #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: Self.spec()).status == .created)
            #expect(try await agent.scale(service, to: 2).status == .ok)
            #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: Self.spec()).status == .created)
        }
        let deployments = try await withThrowingTaskGroup(of: DeploymentInfo.self) { group in
            for service in services {
                group.addTask { try await agent.deploy(service, #"{"version": "2", \#(Self.strategy)}"#).decode(DeploymentInfo.self) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for deployment in deployments { #expect(try await agent.finished(deployment).state == .succeeded) }
        let after = try await agent.request(.GET, "/v1/services/\(bystander.name)/instances").decode([InstanceInfo].self)
        #expect(after.map(\.mainPID) == bystander.instances.map(\.mainPID), "the third service was not touched")
        await agent.stop()
    }

    @Test func oldReleasesBeyondTheRetentionAreRemovedWithTheirUnits() async throws {
        let bed = try Bed.require()
        let service = uniqueService("gc")
        let (agent, _) = try await agentWithV1(bed, service, extraConfig: "keep_releases = 2")
        for version in ["2", "3", "4"] {
            #expect(try await agent.upload(service, version, artifact: Self.fixture, spec: Self.spec()).status == .created)
        }
        let deployment = try await agent.deploy(service, #"{"version": "4", \#(Self.strategy)}"#).decode(DeploymentInfo.self)
        #expect(try await agent.finished(deployment).state == .succeeded)
        let releases = try await agent.request(.GET, "/v1/services/\(service)/releases").decode([ReleaseInfo].self)
        #expect(releases.map(\.version.rawValue) == ["3", "4"])
        let units = try FileManager.default.contentsOfDirectory(atPath: bed.manager.unitDirectory).filter { $0.hasPrefix("drover-\(service)_") }
        #expect(Set(units) == ["drover-\(service)_3@.service", "drover-\(service)_4@.service"])
        #expect(!FileManager.default.fileExists(atPath: agent.stateDirectory + "/services/\(service)/releases/1"))
        await agent.stop()
    }

    @Test func anAgentKilledMidRolloutResumesItAndTheServiceNeverDropsBelowItsCount() async throws {
        let bed = try Bed.require()
        let service = uniqueService("crash")
        let (agent, _) = try await agentWithV1(bed, service)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: Self.spec(["--start-delay", "0.4"])).status == .created)
        let deployment = try await agent.deploy(service, #"{"version": "2", "strategy": {"maxSurge": 1, "maxUnavailable": 0, "minHealthySeconds": 0.3, "deadlineSeconds": 20}}"#)
            .decode(DeploymentInfo.self)

        // Watch systemd itself (the agent will be dead for a while): active instances of the service.
        let stop = Mutex(false), fewest = Mutex(Int.max), samples = Mutex(0)
        async let sampling: Void = {
            while !stop.withLock({ $0 }) {
                let active = (try? await bed.systemd.listUnits(matching: ["drover-\(service)_*@*.service"], states: ["active"]))?.count
                if let active {
                    fewest.withLock { $0 = min($0, active) }
                    samples.withLock { $0 += 1 }
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }()

        // Kill it once the rollout is under way (a step taken, v2 instances started).
        let underWay = await waitUntil(timeout: .seconds(20)) {
            let events = (try? await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)) ?? []
            return events.filter { $0.kind == "deployment.step" }.count >= 2
        }
        #expect(underWay)
        await agent.crash()
        try await agent.restart()

        let done = try await agent.finished(deployment)
        stop.withLock { $0 = true }
        await sampling
        #expect([DeploymentState.succeeded, .failed].contains(done.state), "it completes, or reverts: \(done.state) \(done.reason ?? "")")
        let after = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(after.count == 4 && Set(after.map(\.version)).count == 1, "\(after.map(\.unit))")
        #expect(samples.withLock { $0 } >= 10, "systemd was sampled throughout")
        #expect(fewest.withLock { $0 } >= 4, "never fewer than 4 instances active, even while the agent was down")
        #expect(agent.log.contains("resuming a deployment"), "the restarted agent says it resumed")
        await agent.stop()
    }
}
