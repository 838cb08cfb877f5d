import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// TLS on a real host, beyond the pin the fleet is set up with: a renewed certificate loaded by
/// `systemctl reload` while a log follow goes on, and a team's CA with client certificates.
extension BootedHostTests {
    /// Writes `text` to `path` on `host` (mode 0600), through a shell argument.
    static func place(_ text: String, at path: String, on host: BootedHost) async throws {
        try await host.runChecked(["sh", "-c", "umask 077 && mkdir -p \"$(dirname \"$1\")\" && printf '%s' \"$0\" > \"$1\"", text, path])
    }

    @Test func aReloadedCertificateKeepsAFollowAndMutualTLSRefusesAClientWithoutOne() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            let octets = host.address.split(separator: ".").compactMap { UInt8($0) }
            try fleet.writeManifest("web", Self.manifest(["--print", "follow-line"]))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let agentPID = try await BootedFleet.mainPID(of: "drover-agent.service", on: host)

            // A follow under way over the pinned connection.
            let follow = try fleet.startDrover("logs", "web", "-f", "-n", "20")
            defer { kill(follow.process.pid, SIGTERM) }
            let lines = { (try? String(contentsOfFile: follow.output, encoding: .utf8))?.components(separatedBy: "follow-line").count ?? 0 }
            #expect(await waitUntil(timeout: .seconds(20)) { lines() > 2 }, "the follow shows both instances' lines")

            // A renewed certificate, loaded with `systemctl reload`: no restart, new connections get it.
            let renewed = try TestCertificates.leaf(name: "renewed", signedBy: nil, server: true, addresses: [octets])
            let local = fleet.repository + "/renewed"
            try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
            let files = try renewed.write(to: local, name: "agent")
            try await Self.place(try String(contentsOfFile: files.certificate, encoding: .utf8), at: "/etc/drover/agent.crt", on: host)
            try await Self.place(try String(contentsOfFile: files.key, encoding: .utf8), at: "/etc/drover/agent.key", on: host)
            try await host.runChecked(["systemctl", "reload", "drover-agent.service"])
            let after = try CertificateFingerprint(parsing: renewed.fingerprint)
            #expect(await waitUntil(timeout: .seconds(10), interval: .milliseconds(100)) {
                (try? await CertificateProbe.fetch(host: host.address, port: 7070, pinned: nil, timeout: .seconds(2)).fingerprint) == after
            }, "new connections are served the renewed certificate")
            #expect(try await BootedFleet.mainPID(of: "drover-agent.service", on: host) == agentPID, "reloaded, not restarted")
            let refused = try await fleet.drover("hosts")
            #expect(refused.status == 1 && refused.stderr.contains("\(after)"), "the old pin refuses the renewed certificate: \(refused)")
            #expect(try await fleet.drover("hosts", "trust", host.name, "--fingerprint", "\(after)").status == 0)
            let before = lines()
            #expect(try await fleet.drover("scale", "web", "3").status == 0)
            #expect(await waitUntil(timeout: .seconds(20)) { lines() > before }, "the follow opened before the reload shows the new instance's line")

            // A team's CA: the agent's certificate signed by it, and client certificates required.
            let authority = try TestCertificates.authority(name: "team CA")
            let server = try TestCertificates.leaf(name: "agent", signedBy: authority, server: true, addresses: [octets]).write(to: local, name: "server")
            let ca = try authority.write(to: local, name: "ca")
            _ = try TestCertificates.leaf(name: "operator", signedBy: authority, server: false).write(to: local, name: "client")
            try await Self.place(try String(contentsOfFile: server.certificate, encoding: .utf8), at: "/etc/drover/tls/agent.pem", on: host)
            try await Self.place(try String(contentsOfFile: server.key, encoding: .utf8), at: "/etc/drover/tls/agent.key", on: host)
            try await Self.place(try String(contentsOfFile: ca.certificate, encoding: .utf8), at: "/etc/drover/tls/clients.pem", on: host)
            try await host.runChecked(["sh", "-c", "printf 'tls_certificate = \"/etc/drover/tls/agent.pem\"\\ntls_key = \"/etc/drover/tls/agent.key\"\\ntls_client_ca = \"/etc/drover/tls/clients.pem\"\\n' >> /etc/drover/agent.toml && systemctl restart drover-agent.service"])
            let inventory = fleet.repository + "/deploy/hosts.toml"
            let pinned = try String(contentsOfFile: inventory, encoding: .utf8)
            let withCA = pinned.replacingOccurrences(of: "tls_fingerprint = \"\(after)\"",
                                                     with: "ca_file = \"../renewed/ca.crt\"\nclient_certificate = \"../renewed/client.crt\"\nclient_key = \"../renewed/client.key\"")
            #expect(withCA != pinned)
            try withCA.write(toFile: inventory, atomically: true, encoding: .utf8)
            let served = try await fleet.drover("status", "web")
            #expect(served.status == 0 && served.stdout.contains("3/3"), "a client with a certificate of the CA is served: \(served)")
            try withCA.replacingOccurrences(of: "client_certificate = \"../renewed/client.crt\"\nclient_key = \"../renewed/client.key\"\n", with: "")
                .write(toFile: inventory, atomically: true, encoding: .utf8)
            let without = try await fleet.drover("status", "web")
            #expect(without.status != 0 && without.stdout.contains("3/3") == false, "a client without a certificate is refused: \(without)")
        }
    }
}
