import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// Hosts booted with systemd as PID 1, each with its own address, the agent installed on each
/// by `deploy/install-agent.sh` exactly as the README tells an operator, and a repository
/// whose `deploy/hosts.toml` names them `h1`, `h2`, … Torn down whatever the test did.
struct BootedFleet: Sendable {
    let hosts: [BootedHost]
    /// The operator's repository: `deploy/` holds the inventory, the tokens and the manifests.
    let repository: String
    /// What the install script printed on each host.
    let installOutput: [String]
    /// Each host's certificate fingerprint, as the install script printed it and
    /// `drover hosts trust` pinned it.
    let fingerprints: [String: CertificateFingerprint]

    /// The Drover checkout these tests run from (its `deploy/install-agent.sh` is what runs).
    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let port = 7070

    /// `measuresCPU`: the test needs the CPU to itself (no other suite runs meanwhile).
    static func run(hosts count: Int, measuresCPU: Bool = false, _ body: @Sendable (BootedFleet) async throws -> Void) async throws {
        if measuresCPU {
            try await HostCPUGate.shared.exclusively { try await boot(hosts: count, body) }
        } else {
            try await HostCPUGate.shared.sharing { try await boot(hosts: count, body) }
        }
    }

    private static func boot(hosts count: Int, _ body: @Sendable (BootedFleet) async throws -> Void) async throws {
        let repository = try makeTestbedDirectory("fleet")
        let booted = Booted()
        do {
            try FileManager.default.createDirectory(atPath: repository + "/deploy/tokens", withIntermediateDirectories: true)
            // The build output is shared read-only at the same path: the agent binary and
            // fixture the tests built, and this checkout's install script.
            let shared = Array(Set([checkout, (agentPath as NSString).deletingLastPathComponent]))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...count {
                    group.addTask { await booted.add(try await BootedHost.boot(name: "h\(index)", sharing: shared), at: index) }
                }
                try await group.waitForAll()
            }
            let hosts = await booted.ordered
            var outputs: [String] = []
            var fingerprints: [String: CertificateFingerprint] = [:]
            var inventory = ""
            for host in hosts {
                let output = try await install(on: host)
                outputs.append(output)
                fingerprints[host.name] = try printedFingerprint(in: output)
                let token = try printedToken(in: output)
                let tokenFile = repository + "/deploy/tokens/" + host.name
                guard FileManager.default.createFile(atPath: tokenFile, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw AgentTestError("cannot write \(tokenFile)")
                }
                inventory += "[hosts.\(host.name)]\naddress = \"\(host.address)\"\nport = \(port)\ntoken_file = \"tokens/\(host.name)\"\n\n"
            }
            try inventory.write(toFile: repository + "/deploy/hosts.toml", atomically: true, encoding: .utf8)
            // As the README tells the operator: pin each host with what its install printed.
            for host in hosts {
                let trust = try await Fleet.Run.drover(in: repository, ["hosts", "trust", host.name, "--fingerprint", "\(fingerprints[host.name]!)"])
                guard trust.status == 0 else { throw AgentTestError("drover hosts trust \(host.name) failed: \(trust)") }
            }
            try await body(BootedFleet(hosts: hosts, repository: repository, installOutput: outputs, fingerprints: fingerprints))
        } catch {
            await tearDown(await booted.all, repository)
            throw error
        }
        await tearDown(await booted.all, repository)
    }

    /// Installs (or upgrades) the agent on `host` with the project's script, as root there.
    @discardableResult
    static func install(on host: BootedHost, binary: String = agentPath) async throws -> String {
        try await host.runChecked([checkout + "/deploy/install-agent.sh", "--binary", binary, "--listen", "\(host.address):\(port)"])
    }

    /// The `tls_fingerprint = "sha256:…"` of the inventory entry the install script printed.
    static func printedFingerprint(in output: String) throws -> CertificateFingerprint {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("tls_fingerprint = ") }),
              let value = line.split(separator: "\"").dropFirst().first else {
            throw AgentTestError("the install script printed no tls_fingerprint:\n\(output)")
        }
        return try CertificateFingerprint(parsing: String(value))
    }

    /// The admin token the install script made and printed once (`drover_…`).
    static func printedToken(in output: String) throws -> String {
        guard let line = output.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("drover_") }) else {
            throw AgentTestError("the install script printed no token:\n\(output)")
        }
        return line.trimmingCharacters(in: .whitespaces) + "\n"
    }

    private static func tearDown(_ hosts: [BootedHost], _ repository: String) async {
        await withTaskGroup(of: Void.self) { group in
            for host in hosts { group.addTask { await host.shutdown() } }
        }
        try? FileManager.default.removeItem(atPath: repository)
    }

    private actor Booted {
        var hosts: [Int: BootedHost] = [:]
        func add(_ host: BootedHost, at index: Int) { hosts[index] = host }
        var ordered: [BootedHost] { hosts.keys.sorted().compactMap { hosts[$0] } }
        var all: [BootedHost] { Array(hosts.values) }
    }

    func drover(_ arguments: String...) async throws -> Fleet.Run {
        try await Fleet.Run.drover(in: repository, arguments)
    }

    /// Starts `drover` in the repository without waiting for it; what it prints goes to the
    /// returned file. The caller waits for it or ends it by PID.
    func startDrover(_ arguments: String...) throws -> (process: ChildProcess, output: String) {
        try Fleet.Run.startDrover(in: repository, arguments)
    }

    func writeManifest(_ service: String, _ text: String) throws {
        try text.write(toFile: repository + "/deploy/\(service).toml", atomically: true, encoding: .utf8)
    }

    /// The agent of `host`, through the typed client the CLI uses, over the network.
    func agent(_ host: BootedHost) throws -> AgentClient {
        let token = try String(contentsOfFile: repository + "/deploy/tokens/" + host.name, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return AgentClient(host: host.name, baseURL: "https://\(host.address):\(Self.port)", token: token,
                           transport: .pinned(fingerprints[host.name]!))
    }

    /// One service on one host, as the agent reports it.
    func service(_ name: String, on host: BootedHost) async throws -> ServiceInfo {
        try await agent(host).service(ServiceName(name))
    }

    /// The agent's events about `service` on `host` after event `since` (the last 1,000 when
    /// nil), oldest first.
    func events(_ service: String, on host: BootedHost, since: Int64? = nil) async throws -> [EventInfo] {
        try await agent(host).events(of: ServiceName(service), since: since, limit: 1000)
    }

    /// MainPID of a unit on `host` (0 when it does not run).
    static func mainPID(of unit: String, on host: BootedHost) async throws -> Int32 {
        Int32(try await host.runChecked(["systemctl", "show", "-p", "MainPID", "--value", unit]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}
