import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// Secrets as an operator uses them: named in the manifest by where their value is on the
/// operator's machine, sent with the upload, received by the service only as a systemd
/// credential, and nowhere else — not in a file the agent wrote but the credential's own, not
/// in the journal, an event, an API answer, an environment or an argument. A new value rolls
/// out as a new release. (System scope, encrypted: BootedHostTests.)
@Suite(.serialized, .timeLimit(.minutes(10)))
struct SecretTests {
    static func manifest(_ print: String) -> String {
        """
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = 2
        arguments = ["--print", "\(print)"]

        [health]
        path = "/healthz"

        [rollout]
        min_healthy = "0.2s"

        [secrets]
        DB_PASSWORD = { file = "secrets/db_password" }
        API_KEY = { env = "DROVER_TEST_API_KEY" }
        """
    }

    /// The checksum the fixture answers for a credential's content.
    static func checksum(_ value: String) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in value.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return "fnv1a64=\(String(hash, radix: 16)) bytes=\(value.utf8.count)"
    }

    static func credential(_ name: String, port: Int) async -> String? {
        let fd = try? connectedLoopbackSocket(port: port)
        guard let fd else { return nil }
        defer { close(fd) }
        let request = Array("GET /credential/\(name) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var answer = [UInt8](), buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            answer += buffer[..<count]
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200") else { return nil }
        return text.components(separatedBy: "\r\n\r\n").last?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every place the value must not be: files the agent wrote (state and units), its log,
    /// the manager's journal, the API's answers, instances' environments and arguments.
    static func places(holding value: String, agent: AgentProcess, service: ServiceName) async throws -> [String] {
        var found: [String] = []
        let needle = Data(value.utf8)
        for root in [agent.stateDirectory, agent.manager.unitDirectory] + [agent.manager.journalDirectory].compactMap({ $0 }) {
            for case let relative as String in FileManager.default.enumerator(atPath: root) ?? NSEnumerator() {
                if let data = FileManager.default.contents(atPath: root + "/" + relative), data.range(of: needle) != nil { found.append(root + "/" + relative) }
            }
        }
        if agent.log.contains(value) { found.append("the agent's log") }
        for path in ["/v1/services", "/v1/services/\(service)/releases", "/v1/events?limit=1000", "/v1/services/\(service)/logs?lines=500"] {
            if try await agent.request(.GET, path).body.range(of: needle) != nil { found.append("GET \(path)") }
        }
        let instances = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        for pid in instances.compactMap(\.mainPID) + [agent.pid].compactMap({ $0 }) {
            for file in ["environ", "cmdline"] {
                if let data = FileManager.default.contents(atPath: "/proc/\(pid)/\(file)"), data.range(of: needle) != nil { found.append("/proc/\(pid)/\(file)") }
            }
        }
        return found
    }

    @Test func aSecretReachesTheServiceAsACredentialOnlyAndANewValueRollsOut() async throws {
        try await Fleet.run(hosts: 1) { fleet in
            let agent = fleet.agents[0]
            let service = try ServiceName("web")
            try FileManager.default.createDirectory(atPath: fleet.repository + "/secrets", withIntermediateDirectories: true)
            let password = "pw-\(UUID().uuidString)", apiKey = "key-\(UUID().uuidString)"
            try password.write(toFile: fleet.repository + "/secrets/db_password", atomically: true, encoding: .utf8)
            try fleet.writeManifest("web", Self.manifest("secret-v1"))
            let environment = ["DROVER_TEST_API_KEY": apiKey]
            func drover(_ arguments: String...) async throws -> Fleet.Run {
                try await Fleet.Run.drover(in: fleet.repository, arguments, environment: environment)
            }

            #expect(try await drover("validate").status == 0)
            let first = try await drover("deploy", "web")
            #expect(first.status == 0, "\(first)")
            #expect(first.stderr.contains("secrets are kept unencrypted"), "a user manager's agent says so at deploy: \(first)")
            let instances = try await agent.request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self)
            #expect(instances.count == 2)
            for instance in instances {
                let port = try #require(instance.port)
                #expect(await Self.credential("DB_PASSWORD", port: port) == Self.checksum(password), "slot \(instance.slot) reads the password")
                #expect(await Self.credential("API_KEY", port: port) == Self.checksum(apiKey), "slot \(instance.slot) reads the key")
            }
            let unit = try String(contentsOfFile: agent.manager.unitDirectory + "/" + instances[0].unit.replacingOccurrences(of: "@\(instances[0].slot).", with: "@."), encoding: .utf8)
            #expect(unit.contains("\"CREDENTIALS_DIRECTORY=\(agent.stateDirectory)/secrets/web/"), "user scope: the release's own directory: \(unit)")
            let status = try await drover("status", "web")
            #expect(status.stdout.contains("kept unencrypted"), "\(status)")
            let release = try #require(try await agent.request(.GET, "/v1/services/web/releases").decode([ReleaseInfo].self).first)
            #expect(release.secretStorage == .file && release.spec.secrets.keys.sorted() == ["API_KEY", "DB_PASSWORD"])
            let releaseSecrets = agent.stateDirectory + "/secrets/web/\(release.version)"
            #expect(try FileManager.default.contentsOfDirectory(atPath: releaseSecrets).sorted() == ["API_KEY", "DB_PASSWORD"])
            for file in ["API_KEY", "DB_PASSWORD"] {
                let mode = try FileManager.default.attributesOfItem(atPath: releaseSecrets + "/" + file)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(file)")
            }
            #expect(try FileManager.default.attributesOfItem(atPath: agent.stateDirectory + "/secrets/web")[.posixPermissions] as? Int == 0o700)

            // Nowhere else: the only copies are the secret files themselves.
            for value in [password, apiKey] {
                let places = try await Self.places(holding: value, agent: agent, service: service)
                #expect(places == [agent.stateDirectory + "/secrets/web/\(release.version)/" + (value == password ? "DB_PASSWORD" : "API_KEY")], "\(places)")
            }

            // A new password is a new release, rolled out; the old one stays for a rollback.
            let v1 = release.version
            let rotated = "pw-\(UUID().uuidString)"
            try rotated.write(toFile: fleet.repository + "/secrets/db_password", atomically: true, encoding: .utf8)
            let second = try await drover("deploy", "web")
            #expect(second.status == 0, "\(second)")
            let now = try await agent.request(.GET, "/v1/services/web").decode(ServiceInfo.self)
            #expect(now.currentVersion != v1, "a rotated secret is a new version")
            for instance in now.instances {
                #expect(await Self.credential("DB_PASSWORD", port: try #require(instance.port)) == Self.checksum(rotated))
            }
            let rollback = try await drover("rollback", "web")
            #expect(rollback.status == 0, "\(rollback)")
            for instance in try await agent.request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self) {
                #expect(await Self.credential("DB_PASSWORD", port: try #require(instance.port)) == Self.checksum(password), "the rollback brings the old value back")
            }
        }
    }

    @Test func aSecretThatDoesNotMatchItsDigestOrIsMissingChangesNothing() async throws {
        try await HostCPUGate.shared.sharing {
            let manager = try await ThrowawayUserManager.boot()
            do {
                let agent = try await AgentProcess.start(on: manager)
                let client = try agent.client()
                let service = try ServiceName(uniqueService("badsecret"))
                let value = Array("the-value".utf8)
                var spec = ServiceSpec(binary: "web", type: .notify)
                spec.secrets["TOKEN"] = SecretDigest.of(service: service, name: "TOKEN", value: value)
                let before = try await agent.hostState()
                for (what, secrets, code) in [
                    ("another value", ["TOKEN": Array("not-the-value".utf8)], "secret_digest_mismatch"),
                    ("no value", [:], "secret_missing"),
                    ("one the spec does not name", ["TOKEN": value, "OTHER": value], "secret_unexpected"),
                ] as [(String, [String: [UInt8]], String)] {
                    let refused = await #expect(throws: AgentClientError.self, "\(what)") {
                        try await client.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: spec, secrets: secrets)
                    }
                    #expect(refused?.code == code, "\(what): \(String(describing: refused))")
                    #expect(refused?.message.contains("the-value") == false && refused?.message.contains("not-the-value") == false)
                }
                #expect(try await agent.hostState() == before, "nothing was kept")
                // Right: accepted.
                #expect(try await client.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: spec, secrets: ["TOKEN": value]).created)
                await agent.stop()
            } catch {
                await manager.shutdown()
                throw error
            }
            await manager.shutdown()
        }
    }

    @Test func aSecretOverPlainHTTPFromAnotherHostIsRefused() async throws {
        try await HostCPUGate.shared.sharing {
            let manager = try await ThrowawayUserManager.boot()
            do {
                // Plain HTTP on every address (allowed on purpose), reached at this machine's own
                // non-loopback address: to the agent, a client on another host.
                let address = try #require(Self.nonLoopbackAddress(), "this machine has a non-loopback IPv4 address")
                let agent = try await AgentProcess.start(on: manager, listenAddress: "0.0.0.0", extraConfig: "allow_plaintext = true")
                defer { Task { await agent.stop() } }
                let service = try ServiceName(uniqueService("plainsecret"))
                let value = Array("over-the-wire".utf8)
                var spec = ServiceSpec(binary: "web", type: .notify)
                spec.secrets["TOKEN"] = SecretDigest.of(service: service, name: "TOKEN", value: value)
                // The CLI's client never sends it that way; a client that does is refused by the agent.
                let remote = AgentClient(host: "remote", baseURL: "http://\(address):\(agent.port)", token: agent.token)
                let fromClient = await #expect(throws: AgentClientError.self) {
                    try await remote.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: spec, secrets: ["TOKEN": value])
                }
                #expect(fromClient?.message.contains("TLS") == true, "\(String(describing: fromClient))")
                let header = try JSONSerialization.data(withJSONObject: ["TOKEN": Data(value).base64EncodedString()]).base64EncodedString()
                let spec64 = try JSONEncoder.droverAPI.encode(spec).base64EncodedString()
                let raw = try await agent.request(.PUT, "/v1/services/\(service)/releases/1", body: try Data(contentsOf: URL(fileURLWithPath: fixturePath)),
                                                  headers: [("Content-Digest", contentDigest(of: try Data(contentsOf: URL(fileURLWithPath: fixturePath)))),
                                                            ("Drover-Spec", spec64), ("Drover-Secrets", header)],
                                                  baseURL: "http://\(address):\(agent.port)")
                #expect(raw.status == .forbidden && raw.errorCode == "secret_needs_tls", "\(raw.status) \(raw.text)")
                #expect(!raw.text.contains("over-the-wire"))
                #expect(try await agent.request(.GET, "/v1/services").decode([ServiceInfo].self).isEmpty, "nothing was kept")
            } catch {
                await manager.shutdown()
                throw error
            }
            await manager.shutdown()
        }
    }

    static func nonLoopbackAddress() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var inet = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            inet_ntop(AF_INET, &inet, &text, socklen_t(text.count))
            let string = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !string.hasPrefix("127."), !string.hasPrefix("10.213.") { return string }
        }
        return nil
    }
}
