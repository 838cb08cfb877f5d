import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// Secrets on a real host (system scope): encrypted with systemd-creds and handed to the
/// instances by PID 1 as credentials; nowhere else on the host or in what the agent says.
extension BootedHostTests {
    @Test func aSecretIsEncryptedOnTheHostAndReachesOnlyTheService() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            let value = "s3cr3t-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: fleet.repository + "/secrets", withIntermediateDirectories: true)
            try value.write(toFile: fleet.repository + "/secrets/db_password", atomically: true, encoding: .utf8)
            let manifest = Self.manifest(["--print", "with-secret"]) + "\n\n[secrets]\nDB_PASSWORD = { file = \"secrets/db_password\" }\n"
            try fleet.writeManifest("web", manifest)
            let deploy = try await fleet.drover("deploy", "web")
            #expect(deploy.status == 0, "\(deploy)")
            #expect(!deploy.stderr.contains("unencrypted"), "\(deploy)")

            // The service reads it from $CREDENTIALS_DIRECTORY, asked from outside the host.
            let expected = SecretTests.checksum(value)
            #expect(await Self.get("http://\(host.address):8080/credential/DB_PASSWORD")?.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
            let info = try await fleet.service("web", on: host)
            let release = try #require(info.releases.first { $0.current })
            #expect(release.secretStorage == .encrypted)
            let digest = try #require(release.spec.secrets["DB_PASSWORD"])
            let unit = try await host.runChecked(["sh", "-c", "cat /etc/systemd/system/drover-web_\(release.version)@.service"])
            #expect(unit.contains("LoadCredentialEncrypted=DB_PASSWORD:/var/lib/drover/secrets/web/DB_PASSWORD.\(digest).cred"), "\(unit)")
            let file = try await host.runChecked(["stat", "-c", "%a %U", "/var/lib/drover/secrets/web/DB_PASSWORD.\(digest).cred", "/var/lib/drover/secrets/web"])
            #expect(file == "600 root\n700 root\n", "\(file)")

            // Nowhere else: every file the agent or systemd keeps (but the instances' own
            // credentials, in /run/credentials), the journal, environments and arguments of the
            // agent and the instances, and every answer of the API.
            let files = try await host.run(["sh", "-c", "grep -rlF \"$0\" /var/lib/drover /etc/drover /etc/systemd/system /run/systemd /var/log/journal /run/log/journal 2>/dev/null; true", value])
            #expect(files.output.isEmpty, "on disk: \(files.output)")
            let journal = try await host.run(["sh", "-c", "journalctl -o export --no-pager | grep -c -F \"$0\"; true", value])
            #expect(journal.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "in the journal: \(journal.output)")
            var pids = info.instances.compactMap(\.mainPID)
            pids.append(try await BootedFleet.mainPID(of: "drover-agent.service", on: host))
            for pid in pids {
                let process = try await host.run(["sh", "-c", "cat /proc/\(pid)/environ /proc/\(pid)/cmdline | grep -c -F \"$0\"; true", value])
                #expect(process.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "pid \(pid): \(process.output)")
            }
            let agent = try fleet.agent(host)
            let answers = [
                String(decoding: try JSONEncoder.droverAPI.encode(try await agent.services()), as: UTF8.self),
                String(decoding: try JSONEncoder.droverAPI.encode(try await agent.events(of: nil, limit: 1000)), as: UTF8.self),
                try await fleet.drover("status", "--json").stdout, try await fleet.drover("history", "web").stdout,
            ]
            #expect(answers.allSatisfy { !$0.contains(value) })

            // The agent's own unit and the instances' are scored as `systemd-analyze security`
            // does (SECURITY.md records the figures): the agent at most 5.0, instances at most 2.0.
            for (unit, limit) in [("drover-agent.service", 5.0), (info.instances[0].unit, 2.0)] {
                let report = try await host.run(["systemd-analyze", "security", "--no-pager", unit])
                let overall = report.output.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? ""
                let score = overall.range(of: "\(unit): ").flatMap { overall[$0.upperBound...].split(separator: " ").first }.flatMap { Double($0) }
                print("systemd-analyze security \(unit): \(overall)")
                #expect(score.map { $0 <= limit } == true, "\(unit): \(overall)")
            }

            // A new value: a new release, rolled out, read by the new instances.
            let rotated = "r0tated-\(UUID().uuidString)"
            try rotated.write(toFile: fleet.repository + "/secrets/db_password", atomically: true, encoding: .utf8)
            let second = try await fleet.drover("deploy", "web")
            #expect(second.status == 0, "\(second)")
            #expect(try await fleet.service("web", on: host).currentVersion != release.version)
            #expect(await Self.get("http://\(host.address):8080/credential/DB_PASSWORD")?.trimmingCharacters(in: .whitespacesAndNewlines) == SecretTests.checksum(rotated))
        }
    }

    @Test func aReleaseWhoseUnitScoresAboveTheLimitIsRefusedUnlessTheManifestAcceptsIt() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            let stripped = ["DynamicUser", "ProtectSystem", "CapabilityBoundingSet", "PrivateUsers", "SystemCallFilter", "NoNewPrivileges",
                            "ProtectHome", "PrivateDevices", "RestrictAddressFamilies", "PrivateTmp"].map { "\($0) = false" }.joined(separator: "\n")
            let manifest = Self.manifest(["--print", "exposed"]) + "\n\n[sandbox]\n" + stripped + "\n"
            try fleet.writeManifest("web", manifest)
            let units = try await host.runChecked(["sh", "-c", "ls /etc/systemd/system"])
            let refused = try await fleet.drover("deploy", "web")
            #expect(refused.status == 1, "\(refused)")
            let text = refused.stderr + refused.stdout
            #expect(text.contains("max_exposure 5.0") && text.contains("User=/DynamicUser="), "\(refused)")
            #expect(try await host.runChecked(["sh", "-c", "ls /etc/systemd/system"]) == units, "nothing was installed")
            await #expect(throws: AgentClientError.self) { try await fleet.service("web", on: host) }

            // Accepted on purpose, by the score the refusal named.
            let score = try #require(text.range(of: "accept_exposure = ").map { text[$0.upperBound...].prefix { $0 == "." || $0.isNumber } })
            try fleet.writeManifest("web", "accept_exposure = \(score)\n" + manifest)
            let accepted = try await fleet.drover("deploy", "web")
            #expect(accepted.status == 0, "\(accepted)")
            let release = try #require(try await fleet.service("web", on: host).releases.first { $0.current })
            #expect(release.exposure.map { String(format: "%.1f", $0) } == String(score), "\(String(describing: release.exposure))")
            let status = try await fleet.drover("status", "web")
            #expect(status.stdout.contains("EXPOSURE") && status.stdout.contains(" \(score)"), "\(status)")
        }
    }
}
