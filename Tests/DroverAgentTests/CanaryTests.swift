import DroverAPI
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// Canary deploys through the real `drover`: canaries beside the whole old release taking
/// their share of a shared socket's traffic, then promoted to every host; aborted with the old
/// instances untouched; aborted by themselves when one crashes; promoted by themselves; and
/// carried through an agent restart.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct CanaryTests {
    static func manifest(generation: Int, arguments: String = "[]", extra: String = "", listen: String? = nil, hosts: String? = nil) -> String {
        """
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = 2
        arguments = \(arguments)
        \(listen.map { "listen = \"\($0)\"" } ?? "")
        \(hosts.map { "hosts = \($0)" } ?? "")

        [environment]
        GENERATION = "\(generation)"

        [rollout]
        min_healthy = "0.2s"
        batch = 1
        \(extra)
        """
    }

    func service(_ fleet: Fleet, _ index: Int) async throws -> ServiceInfo {
        try await fleet.agents[index].request(.GET, "/v1/services/web").decode(ServiceInfo.self)
    }

    func pids(_ info: ServiceInfo, version: ReleaseVersion?) -> [Int32] {
        info.instances.filter { $0.version == version }.compactMap(\.mainPID).sorted()
    }

    @Test func aCanaryTakesItsShareOfTheSocketsTrafficThenIsPromoted() async throws {
        try await Fleet.run(hosts: 1) { fleet in
            let port = try freeLoopbackPort()
            try fleet.writeManifest("web", Self.manifest(generation: 1, listen: "127.0.0.1:\(port)"))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let old = try await service(fleet, 0).currentVersion
            let work = fleet.repository + "/traffic"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let client = try TrafficClient.start(port: port, work: work)
            #expect(await waitUntil { client.progress()[old?.rawValue ?? "-"] != nil })

            try fleet.writeManifest("web", Self.manifest(generation: 2, listen: "127.0.0.1:\(port)"))
            let canary = try await fleet.drover("deploy", "web", "--canary", "1")
            #expect(canary.status == 0 && canary.stdout.contains("canary") && canary.stderr.contains("drover promote web"), "\(canary)")
            let waiting = try await service(fleet, 0)
            let new = try #require(waiting.deployment?.toVersion)
            #expect(waiting.deployment?.state == .canary && waiting.currentVersion == old)
            #expect(pids(waiting, version: old).count == 2 && pids(waiting, version: new).count == 1, "1 canary beside the 2 old: \(waiting.instances)")
            #expect(await waitUntil(timeout: .seconds(20)) { (client.progress()[new.rawValue] ?? 0) > 10 && (client.progress()[old!.rawValue] ?? 0) > 10 },
                    "both versions answer on the shared socket: \(client.progress())")
            let status = try await fleet.drover("status", "web")
            #expect(status.stdout.contains("canary \(new)"), "\(status)")

            let promoted = try await fleet.drover("promote", "web")
            #expect(promoted.status == 0 && promoted.stdout.contains("deployed"), "\(promoted)")
            let done = try await service(fleet, 0)
            #expect(done.currentVersion == new && done.deployment == nil && pids(done, version: new).count == 2 && pids(done, version: old).isEmpty, "\(done.instances)")
            let result = try await client.finish()
            #expect(result.failed == 0, "no request failed through canary and promotion: \(result.errors)")
            #expect(result.sequence.last == new.rawValue)
        }
    }

    @Test func promoteAbortCrashAndRestartAcrossHosts() async throws {
        try await Fleet.run(hosts: 3) { fleet in
            try fleet.writeManifest("web", Self.manifest(generation: 1))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let v1 = try await service(fleet, 0).currentVersion

            // A canary on the first host; the others wait for the promotion.
            try fleet.writeManifest("web", Self.manifest(generation: 2, extra: "canary = 1"))
            let canary = try await fleet.drover("deploy", "web")
            #expect(canary.status == 0 && canary.stdout.contains("waits for promote"), "\(canary)")
            let first = try await service(fleet, 0)
            let v2 = try #require(first.deployment?.toVersion)
            #expect(first.deployment?.state == .canary && pids(first, version: v2).count == 1 && pids(first, version: v1).count == 2)
            let second = try await service(fleet, 1)
            #expect(second.currentVersion == v1 && second.deployment == nil, "later hosts untouched")
            let history = try await fleet.drover("history", "web")
            #expect(history.stdout.contains("deployment.canary"), "\(history)")

            // It survives an agent restart, and is promoted afterwards.
            await fleet.agents[0].crash()
            try await fleet.agents[0].restart()
            let restarted = try await service(fleet, 0)
            #expect(restarted.deployment?.state == .canary && pids(restarted, version: v2) == pids(first, version: v2)
                    && pids(restarted, version: v1) == pids(first, version: v1), "the canary waits on, its instances untouched")
            let promoted = try await fleet.drover("promote", "web")
            #expect(promoted.status == 0, "\(promoted)")
            for index in 0..<3 {
                let info = try await service(fleet, index)
                #expect(info.currentVersion == v2 && pids(info, version: v2).count == 2 && info.deployment == nil, "host-\(index + 1): \(info.instances)")
            }
            let none = try await fleet.drover("promote", "web")
            #expect(none.status == 1 && none.stderr.contains("no canary of web is waiting"), "\(none)")

            // Aborted: the canary stops, the old instances are the same processes.
            try fleet.writeManifest("web", Self.manifest(generation: 3, extra: "canary = 1"))
            let before = pids(try await service(fleet, 0), version: v2)
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let aborted = try await fleet.drover("abort", "web")
            #expect(aborted.status == 0 && aborted.stdout.contains("aborted"), "\(aborted)")
            let after = try await service(fleet, 0)
            #expect(after.currentVersion == v2 && pids(after, version: v2) == before && after.instances.allSatisfy { $0.version == v2 } && after.deployment == nil,
                    "\(after.instances)")

            // A canary that crashes aborts by itself, with the reason.
            try fleet.writeManifest("web", Self.manifest(generation: 4, arguments: #"["--exit-after", "2"]"#, extra: "canary = 1"))
            let crashing = try await fleet.drover("deploy", "web")
            #expect(crashing.status == 0, "\(crashing)")
            let crashed = try await waitUntil(timeout: .seconds(30), interval: .milliseconds(200)) {
                try await fleet.agents[0].request(.GET, "/v1/events?service=web&limit=1000").decode([EventInfo].self)
                    .contains { $0.kind == "deployment.aborted" && $0.message.contains("canary") && $0.message.contains("failed") }
            }
            #expect(crashed)
            let settled = try await service(fleet, 0)
            #expect(settled.currentVersion == v2 && pids(settled, version: v2) == before && settled.instances.allSatisfy { $0.version == v2 }, "\(settled.instances)")

            // auto_promote: drover deploy carries the rollout through by itself.
            try fleet.writeManifest("web", Self.manifest(generation: 5, extra: "canary = 1\nauto_promote = \"2s\""))
            let auto = try await fleet.drover("deploy", "web")
            #expect(auto.status == 0 && auto.stderr.contains("promoted by itself"), "\(auto)")
            for index in 0..<3 {
                let info = try await service(fleet, index)
                #expect(info.currentVersion != v2 && info.deployment == nil && info.instances.count == 2, "host-\(index + 1) rolled: \(info.instances)")
            }
        }
    }
}
