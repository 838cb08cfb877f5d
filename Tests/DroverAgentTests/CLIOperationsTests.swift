import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// The two operations of the API the CLI did not reach before: a live resize and deleting a
/// service, through the real `drover` against two agents.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct CLIOperationsTests {
    static let manifest = """
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = 2

        [rollout]
        min_healthy = "0.2s"
        """

    @Test func resizeLiveAndDeleteAService() async throws {
        try await Fleet.run(hosts: 2) { fleet in
            try fleet.writeManifest("web", Self.manifest)
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let pids = try await fleet.agents[0].request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self).map(\.mainPID)

            // Resize: every host, no restart.
            let resized = try await fleet.drover("limits", "web", "--cpu", "150%", "--memory", "256M")
            #expect(resized.status == 0 && resized.stdout.contains("resized") && resized.stdout.contains("150%"), "\(resized)")
            for agent in fleet.agents {
                let instances = try await agent.request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self)
                #expect(instances.allSatisfy { $0.cpuQuotaPercent == 150 && $0.memoryMaxBytes == 256 << 20 }, "\(instances)")
            }
            #expect(try await fleet.agents[0].request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self).map(\.mainPID) == pids,
                    "resized live: no instance restarted")
            let off = try await fleet.drover("limits", "web", "--reset")
            #expect(off.status == 0 && off.stdout.contains("releases' limits"), "\(off)")
            for (arguments, words) in [(["limits", "web"], "give --cpu"), (["resize", "web", "--cpu", "lots"], "share of one CPU"),
                                       (["limits", "web", "--reset", "--cpu", "50%"], "--reset goes alone")] {
                let bad = try await Fleet.Run.drover(in: fleet.repository, arguments)
                #expect(bad.status == 2 && bad.stderr.contains(words), "\(bad)")
            }

            // Delete: asks first (refused without a terminal), then removes it everywhere.
            let unattended = try await fleet.drover("delete", "web")
            #expect(unattended.status == 2 && unattended.stderr.contains("--yes"), "\(unattended)")
            #expect(try await fleet.agents[1].request(.GET, "/v1/services/web").status == .ok, "nothing was deleted")
            let deleted = try await fleet.drover("delete", "web", "--yes")
            #expect(deleted.status == 0 && deleted.stdout.components(separatedBy: "deleted").count == 3, "\(deleted)")
            for agent in fleet.agents {
                #expect(try await agent.request(.GET, "/v1/services/web").status == .notFound)
                #expect(try await agent.request(.GET, "/v1/events?service=web").decode([EventInfo].self).contains { $0.kind == "service.deleted" && $0.by == "install" })
            }
            let again = try await fleet.drover("delete", "web", "--yes")
            #expect(again.status == 0 && again.stdout.contains("not there"), "\(again)")
        }
    }
}
