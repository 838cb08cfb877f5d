import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// The release workflow on real hosts (system scope, the full sandbox): a release command and
/// `drover exec` as DynamicUser units whose output reaches the operator, and a canary taking
/// traffic on a host's own address before it is promoted to both hosts.
extension BootedHostTests {
    @Test func aReleaseCommandExecAndACanaryOnBootedHosts() async throws {
        try await BootedFleet.run(hosts: 2) { fleet in
            let release = "\n\n[release]\ncommand = [\"/bin/sh\", \"-c\", \"echo migrating as $(id -un); grep NoNewPrivs /proc/self/status\"]\n"
            try fleet.writeManifest("web", Self.manifest(["--print", "v1"]) + release)
            let first = try await fleet.drover("deploy", "web")
            #expect(first.status == 0, "\(first)")
            #expect(first.stderr.contains("h1 │ migrating as ") && first.stderr.contains("NoNewPrivs:\t1"), "the release command's output, from a sandboxed unit: \(first)")
            #expect(!first.stderr.contains("migrating as root"), "a dynamic user, not root: \(first)")

            let exec = try await fleet.drover("exec", "web", "--host", "h2", "--", "/bin/sh", "-c", "id -u; test -w /usr && echo writable-usr; exit 4")
            #expect(exec.status == 4 && !exec.stdout.contains("writable-usr"), "ProtectSystem holds for exec too: \(exec)")
            #expect(Int(exec.stdout.split(separator: "\n").first ?? "") ?? 0 > 60_000, "a dynamic user's uid: \(exec)")

            // A canary on h1 answers beside the old release on the host's own address.
            let old = try await fleet.service("web", on: fleet.hosts[0]).currentVersion
            try fleet.writeManifest("web", Self.manifest(["--print", "v2"]) + release)
            let canary = try await fleet.drover("deploy", "web", "--canary", "1", "--batch", "1")
            #expect(canary.status == 0 && canary.stdout.contains("canary") && canary.stdout.contains("waits for promote"), "\(canary)")
            let waiting = try await fleet.service("web", on: fleet.hosts[0])
            let new = try #require(waiting.deployment?.toVersion)
            var seen: Set<String> = []
            let both = await waitUntil(timeout: .seconds(20), interval: .milliseconds(20)) {
                if let line = await Self.get("http://\(fleet.hosts[0].address):8080/"),
                   let version = line.split(separator: " ").first(where: { $0.hasPrefix("version=") }) { seen.insert(String(version.dropFirst(8))) }
                return seen.contains(new.rawValue) && seen.contains(old?.rawValue ?? "-")
            }
            #expect(both, "both versions answer through the shared socket: \(seen)")
            #expect(try await fleet.service("web", on: fleet.hosts[1]).currentVersion == old, "h2 waits")
            let promoted = try await fleet.drover("promote", "web")
            #expect(promoted.status == 0, "\(promoted)")
            for host in fleet.hosts {
                let info = try await fleet.service("web", on: host)
                #expect(info.currentVersion == new && info.deployment == nil && info.instances.allSatisfy { $0.version == new }, "\(host.name): \(info.instances)")
            }
        }
    }
}
