import AsyncHTTPClient
import DroverAPI
import DroverTestbed
import Foundation
import Testing

@Suite(.userManager, .timeLimit(.minutes(10)))
struct AgentReleaseTests {
    static let fixture = AgentLifecycleTests.fixture

    @Test func aTarballReleaseRunsTheBinaryItNames() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("tar")
        let artifact = try await Tarball.make([
            .directory("bin"), .file("bin/server", Self.fixture, executable: true),
            .file("share/config.txt", Data("hello".utf8)), .symlink("current", target: "bin/server"),
            .file("bin/helper", Data("#!/bin/sh\n".utf8), mode: 0o6755),
            .directory("open", mode: 0o777), .file("open/tool", Data("#!/bin/sh\n".utf8), mode: 0o777),
        ])
        let reply = try await agent.upload(service, "3.1.4", artifact: artifact,
                                           spec: #"{"binary": "bin/server", "type": "notify", "arguments": ["--print", "x\"\u0301 %h \\\u0301"], "#
                                               + #""environment": {"GREETING": "hi there", "FUSED": "\u0600\" DROVER_VERSION=evil"}}"#)
        #expect(reply.status == .created, "\(reply.text)")
        let release = try reply.decode(ReleaseInfo.self)
        #expect(release.kind == "tarball")
        #expect(release.files == 4)
        let root = agent.stateDirectory + "/services/\(service)/releases/3.1.4"
        // Set-user-ID and set-group-ID bits are dropped: no release puts a setuid-root file on the host.
        let helperMode = try FileManager.default.attributesOfItem(atPath: root + "/bin/helper")[.posixPermissions] as? Int
        #expect(helperMode == 0o755, "mode \(String(helperMode ?? 0, radix: 8))")
        // No group or other write bit: no other local user can rewrite a service's files.
        for path in ["open", "open/tool"] {
            let mode = try FileManager.default.attributesOfItem(atPath: root + "/" + path)[.posixPermissions] as? Int
            #expect(mode == 0o755, "\(path): mode \(String(mode ?? 0, radix: 8))")
        }
        #expect(FileManager.default.fileExists(atPath: root + "/share/config.txt"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/current") == "bin/server")

        let instances = try await agent.scale(service, to: 1).decode(ScaleResult.self).instances
        #expect(instances.first?.activeState == "active")
        let environment = try String(contentsOfFile: "/proc/\(instances[0].mainPID!)/environ", encoding: .utf8)
            .split(separator: "\0")
        #expect(environment.contains("GREETING=hi there"))
        #expect(environment.contains("DROVER_SERVICE=\(service)"))
        #expect(environment.contains("DROVER_VERSION=3.1.4"))
        #expect(environment.contains("DROVER_INSTANCE=1"))
        // Hostile values reach the process exactly, through systemd's unquoting: a quote fused
        // with a mark neither ends the value nor sets another variable, a `%` is no specifier.
        #expect(environment.contains("FUSED=\u{0600}\" DROVER_VERSION=evil"[...]), "\(environment)")
        #expect(environment.filter { $0.hasPrefix("DROVER_VERSION=") } == ["DROVER_VERSION=3.1.4"])
        let argv = try String(contentsOfFile: "/proc/\(instances[0].mainPID!)/cmdline", encoding: .utf8).split(separator: "\0")
        #expect(argv.dropFirst().map(String.init) == ["--print", "x\"\u{0301} %h \\\u{0301}"], "\(argv)")
        #expect(environment.contains("PORT=\(instances[0].port!)"))
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func scalingDownStopsTheHighestSlotsAndLeavesTheRestAlone() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("down")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        let four = try await agent.scale(service, to: 4).decode(ScaleResult.self).instances
        let two = try await agent.scale(service, to: 2).decode(ScaleResult.self).instances
        #expect(two.map(\.slot) == [1, 2])
        #expect(two.map(\.mainPID) == four.prefix(2).map(\.mainPID), "scaling never restarts the instances that stay")
        let three = try await agent.scale(service, to: 3).decode(ScaleResult.self).instances
        #expect(three.map(\.slot) == [1, 2, 3])
        #expect(three.prefix(2).map(\.mainPID) == two.map(\.mainPID))
        #expect(three[2].port == four[2].port, "a slot keeps its port")
        #expect(try await agent.scale(service, to: 0).decode(ScaleResult.self).instances.isEmpty)
        await agent.stop()
    }

    @Test func scalingDownLetsAStoppingInstanceFinishTheRequestInHand() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("drain")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        let two = try await agent.scale(service, to: 2).decode(ScaleResult.self).instances
        let port = try #require(two.first { $0.slot == 2 }?.port)
        let cpuBefore = two.first { $0.slot == 2 }?.cpuNanoseconds ?? 0

        // A request of 1.5 s of CPU to slot 2; once slot 2 is visibly serving it, scale to 1.
        async let answer = HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/burn?ms=1500"), timeout: .seconds(30))
        #expect(await waitUntil(timeout: .seconds(10), interval: .milliseconds(20)) {
            let now = try? await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
            return (now?.first { $0.slot == 2 }?.cpuNanoseconds ?? 0) > cpuBefore + 100_000_000
        })
        let one = try await agent.scale(service, to: 1).decode(ScaleResult.self).instances
        #expect(one.map(\.slot) == [1] && one.first?.mainPID == two.first?.mainPID)
        let response = try await answer
        #expect(response.status == .ok)
        #expect(String(buffer: try await response.body.collect(upTo: 1024)).contains("burned 1500 ms"), "SIGTERM let the request finish")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func anInstanceThatCannotStartIsReportedWithItsReason() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("fails")
        let spec = #"{"binary": "web", "type": "notify", "arguments": ["--exit-code", "7"], "restart": {"mode": "no", "delaySeconds": 0, "burst": 5, "intervalSeconds": 60}}"#
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: spec).status == .created)
        let reply = try await agent.scale(service, to: 2)
        #expect(reply.status == .badGateway)
        #expect(reply.errorCode == "instances_failed")
        #expect(reply.text.contains("exited with status 7"), "\(reply.text)")
        let instances = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(instances.count == 2)
        #expect(instances.allSatisfy { $0.activeState == "failed" && $0.failure?.contains("status 7") == true })
        await agent.stop()
    }

    @Test func restartingTheAgentLosesNothingAndRestartsNothing() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("keep")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        let instances = try await agent.scale(service, to: 2).decode(ScaleResult.self).instances
        let eventsBefore = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)

        await agent.crash()
        try await agent.restart()

        let info = try await agent.request(.GET, "/v1/services/\(service)").decode(ServiceInfo.self)
        #expect(info.desiredInstances == 2)
        #expect(info.releases.map(\.version.rawValue) == ["1", "2"])
        #expect(info.instances.map(\.mainPID) == instances.map(\.mainPID), "instances kept running through the agent's crash")
        let eventsAfter = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        #expect(eventsAfter == eventsBefore)
        #expect(eventsBefore.map(\.kind) == ["release.added", "release.added", "scale"])
        await agent.stop()
    }
}
