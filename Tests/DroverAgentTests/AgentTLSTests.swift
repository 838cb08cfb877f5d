import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import NIOSSL
import Synchronization
import Testing

/// The agent's API over TLS, met as a client meets it: only TLS on a TLS agent, a pin that
/// holds (and an agent standing in with another certificate refused, with both fingerprints),
/// `drover hosts trust`, mutual TLS with a CA made here, plain HTTP refused off loopback, and
/// a certificate reloaded on SIGHUP under an open follow.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct AgentTLSTests {
    @Test func aTLSAgentSpeaksOnlyTLSAndTheClientHoldsItToItsPin() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(tls: true)
        defer { Task { await agent.stop() } }
        let fingerprint = try agent.fingerprint()
        let mode = try FileManager.default.attributesOfItem(atPath: agent.keyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600, "the key is 0600")

        // Plain HTTP gets no answer from the TLS port.
        let plain = AgentClient(host: "local", baseURL: "http://127.0.0.1:\(agent.port)", token: agent.token, transport: .plaintext, timeout: .seconds(5))
        await #expect(throws: AgentClientError.self) { try await plain.health() }

        // Pinned: answers.
        let pinned = try agent.client()
        #expect(try await pinned.health().status == "ok")
        #expect(try await pinned.services().isEmpty)
        #expect(try await pinned.presentedCertificate() == fingerprint)

        // Another pin: refused before anything is sent, both fingerprints named.
        let other = try CertificateFingerprint(digest: [UInt8](repeating: 7, count: 32))
        let wrong = AgentClient(host: "web-1", baseURL: agent.baseURL, token: agent.token, transport: .pinned(other))
        let refused = try await #require(throws: AgentClientError.self) { try await wrong.services() }
        #expect(refused.kind == .untrusted && refused.category == .untrusted, "\(refused)")
        #expect(refused.message.contains("\(fingerprint)") && refused.message.contains("\(other)"), "\(refused.message)")
        #expect(refused.message.contains("drover hosts trust web-1"), "\(refused.message)")
        #expect(!agent.log.contains("GET /v1/services"), "the refused client sent no request")
    }

    @Test func hostsTrustPinsAHostAndAStandInWithAnotherCertificateIsRefused() async throws {
        let bed = try Bed.require()
        let first = try await bed.agent(tls: true)
        let repository = try makeTestbedDirectory("trust")
        defer { try? FileManager.default.removeItem(atPath: repository) }
        try FileManager.default.createDirectory(atPath: repository + "/deploy", withIntermediateDirectories: true)
        let inventoryPath = repository + "/deploy/hosts.toml"
        try (first.token + "\n").write(toFile: repository + "/deploy/host-1.token", atomically: true, encoding: .utf8)
        let unpinned = """
            # the fleet
            [hosts.host-1]
            address = "127.0.0.1"   # loopback, for the test
            port = \(first.port)
            token_file = "host-1.token"

            [groups]
            web = ["host-1"]

            """
        try unpinned.write(toFile: inventoryPath, atomically: true, encoding: .utf8)
        func drover(_ arguments: String...) async throws -> Fleet.Run { try await Fleet.Run.drover(in: repository, arguments) }
        let fingerprint = try first.fingerprint()

        // Not pinned yet: no command talks to it, and each says how to pin it.
        let status = try await drover("status")
        #expect(status.status == 2 && status.stderr.contains("drover hosts trust host-1"), "\(status)")
        // A fingerprint that is not the agent's: refused, the inventory unchanged.
        let wrong = "sha256:" + String(repeating: "ab", count: 32)
        let mismatch = try await drover("hosts", "trust", "host-1", "--fingerprint", wrong)
        #expect(mismatch.status == 1 && mismatch.stderr.contains("\(fingerprint)") && mismatch.stderr.contains(wrong), "\(mismatch)")
        #expect(try String(contentsOfFile: inventoryPath, encoding: .utf8) == unpinned)
        // Without a terminal to confirm on, nothing is trusted by default.
        let unattended = try await drover("hosts", "trust", "host-1")
        #expect(unattended.status == 2 && unattended.stdout.contains("\(fingerprint)") && unattended.stderr.contains("--fingerprint"), "\(unattended)")
        #expect(try String(contentsOfFile: inventoryPath, encoding: .utf8) == unpinned)

        // The right one: written under the host, the rest of the file as it was.
        let trust = try await drover("hosts", "trust", "host-1", "--fingerprint", "\(fingerprint)")
        #expect(trust.status == 0, "\(trust)")
        let pinned = try String(contentsOfFile: inventoryPath, encoding: .utf8)
        #expect(pinned == unpinned.replacingOccurrences(of: "token_file = \"host-1.token\"\n",
                                                       with: "token_file = \"host-1.token\"\ntls_fingerprint = \"\(fingerprint)\"\n"), "\(pinned)")
        let hosts = try await drover("hosts")
        #expect(hosts.status == 0 && hosts.stdout.contains("https://127.0.0.1:\(first.port)"), "\(hosts)")
        #expect(try await drover("status").status == 0)

        // Another agent, with its own certificate, stands in at the same address and port.
        await first.stop()
        let standIn = try await AgentProcess.start(on: bed.manager, port: first.port, tls: true)
        defer { Task { await standIn.stop() } }
        let other = try standIn.fingerprint()
        #expect(other != fingerprint)
        for command in [["hosts"], ["status"]] {
            let refused = try await Fleet.Run.drover(in: repository, command)
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains("untrusted") && refused.stderr.contains("\(other)") && refused.stderr.contains("\(fingerprint)")
                    && refused.stderr.contains("drover hosts trust host-1"), "\(refused)")
        }
        #expect(!standIn.log.contains("/v1/services"), "the stand-in was sent no request: \(standIn.log.suffix(2000))")
    }

    @Test func plainHTTPOffLoopbackIsRefusedAtStart() async throws {
        let directory = try makeTestbedDirectory("plaintext")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "tls = false\n".write(toFile: directory + "/agent.toml", atomically: true, encoding: .utf8)
        let child = try ChildProcess.spawn(agentPath, ["--user", "--listen", "0.0.0.0:\(try freeLoopbackPort())", "--state-dir", directory + "/state",
                                                      "--config", directory + "/agent.toml"],
                                           environment: ["PATH": "/usr/bin:/bin", "HOME": directory], output: directory + "/out")
        let status = await child.wait()
        let output = try String(contentsOfFile: directory + "/out", encoding: .utf8)
        #expect(status != 0, "\(output)")
        #expect(output.contains("clear text") && output.contains("allow_plaintext = true"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/token"), "it stopped before making anything")
    }

    @Test func mutualTLSWithATeamsCARefusesAClientWithoutACertificate() async throws {
        let bed = try Bed.require()
        let directory = try makeTestbedDirectory("mtls")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try TestCertificates.authority(name: "team CA")
        let ca = try authority.write(to: directory, name: "ca")
        let server = try TestCertificates.leaf(name: "agent", signedBy: authority, server: true).write(to: directory, name: "server")
        let client = try TestCertificates.leaf(name: "operator", signedBy: authority, server: false).write(to: directory, name: "client")
        let stranger = try TestCertificates.leaf(name: "stranger", signedBy: try TestCertificates.authority(name: "other CA"), server: false)
            .write(to: directory, name: "stranger")

        var helperTLS = TLSConfiguration.makeClientConfiguration()
        helperTLS.trustRoots = .file(ca.certificate)
        helperTLS.certificateChain = try NIOSSLCertificate.fromPEMFile(client.certificate).map { .certificate($0) }
        helperTLS.privateKey = .privateKey(try NIOSSLPrivateKey(file: client.key, format: .pem))
        let agent = try await AgentProcess.start(on: bed.manager, tls: true, clientTLS: helperTLS, extraConfig: """
            tls_certificate = "\(server.certificate)"
            tls_key = "\(server.key)"
            tls_client_ca = "\(ca.certificate)"
            """)
        defer { Task { await agent.stop() } }
        #expect(!FileManager.default.fileExists(atPath: agent.certificatePath), "no self-signed pair is made beside a configured one")

        let withCertificate = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token,
                                          transport: .authority(caFile: ca.certificate, clientCertificate: client.certificate, clientKey: client.key))
        #expect(try await withCertificate.services().isEmpty, "a client with a certificate of the CA is served")
        for (what, transport) in [
            ("no client certificate", AgentTransport.authority(caFile: ca.certificate, clientCertificate: nil, clientKey: nil)),
            ("a certificate of another CA", AgentTransport.authority(caFile: ca.certificate, clientCertificate: stranger.certificate, clientKey: stranger.key)),
        ] {
            let refused = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token, transport: transport, timeout: .seconds(5))
            await #expect(throws: AgentClientError.self, "\(what) is refused") { _ = try await refused.services() }
        }
        // The server is verified by the CA too: a client trusting another CA refuses it.
        let otherCA = try TestCertificates.authority(name: "unrelated").write(to: directory, name: "unrelated")
        let distrustful = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token,
                                      transport: .authority(caFile: otherCA.certificate, clientCertificate: client.certificate, clientKey: client.key))
        let untrusted = try await #require(throws: AgentClientError.self) { try await distrustful.services() }
        #expect(untrusted.category == .untrusted, "\(untrusted)")
    }

    @Test func sighupReloadsTheCertificateAndAnOpenFollowGoesOn() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(tls: true)
        defer { Task { await agent.stop() } }
        let before = try agent.fingerprint()
        let client = try agent.client()
        let service = try ServiceName(uniqueService("reload"))
        _ = try await client.upload(service, try ReleaseVersion("1"), file: fixturePath,
                                    spec: ServiceSpec(binary: "web", arguments: ["--print", "reload-line"], type: .notify))
        _ = try await client.scale(service, to: 1)
        let slots = Mutex<Set<Int>>([])
        let follow = Task {
            for try await entry in client.followLogs(of: service, lines: 10) where entry.message == "reload-line" {
                slots.withLock { _ = $0.insert(entry.slot) }
            }
        }
        defer { follow.cancel() }
        #expect(await waitUntil(timeout: .seconds(15)) { slots.withLock { $0.contains(1) } }, "the follow is under way")

        // A new pair in place, then SIGHUP: new connections get it at once.
        let renewed = try TestCertificates.leaf(name: "renewed", signedBy: nil, server: true)
        let directory = try makeTestbedDirectory("renewed")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try renewed.write(to: directory, name: "renewed")
        try FileManager.default.removeItem(atPath: agent.certificatePath)
        try FileManager.default.removeItem(atPath: agent.keyPath)
        try FileManager.default.copyItem(atPath: files.certificate, toPath: agent.certificatePath)
        try FileManager.default.copyItem(atPath: files.key, toPath: agent.keyPath)
        kill(try #require(agent.pid), SIGHUP)
        let after = try CertificateFingerprint(parsing: renewed.fingerprint)
        #expect(after != before)
        let reloaded = await waitUntil(timeout: .seconds(10), interval: .milliseconds(50)) {
            (try? await CertificateProbe.fetch(host: "127.0.0.1", port: agent.port, pinned: nil, timeout: .seconds(2)).fingerprint) == after
        }
        #expect(reloaded, "new connections are served the reloaded certificate")
        #expect(agent.isRunning)

        // The follow opened before the reload goes on: a second instance's line reaches it.
        let renewedClient = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token, transport: .pinned(after))
        _ = try await renewedClient.scale(service, to: 2)
        #expect(await waitUntil(timeout: .seconds(15)) { slots.withLock { $0.contains(2) } }, "the follow opened before the reload still delivers")

        // A broken pair is not taken: the agent keeps serving the last good one.
        try "not a key\n".write(toFile: agent.keyPath, atomically: true, encoding: .utf8)
        kill(try #require(agent.pid), SIGHUP)
        #expect(await waitUntil(timeout: .seconds(10)) { agent.log.contains("kept the certificate served until now") }, "\(agent.log.suffix(2000))")
        #expect(try await CertificateProbe.fetch(host: "127.0.0.1", port: agent.port, pinned: after, timeout: .seconds(2)).fingerprint == after)
        #expect(try await renewedClient.health().status == "ok")
    }
}
