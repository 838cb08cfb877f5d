import AsyncHTTPClient
import DroverAPI
import DroverSystemd
import DroverTestbed
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SwiftASN1
import X509
import Crypto
import DroverClient
import DroverCore
import Synchronization
import Testing

/// A real `drover-agent` process (the built executable) driving a throwaway user manager,
/// reached on 127.0.0.1 like any client would: over plain HTTP (`tls = false`, allowed on
/// loopback), or, with `tls`, over HTTPS with the agent's own certificate as the one trusted.
final class AgentProcess: Sendable {
    let manager: ThrowawayUserManager
    let stateDirectory: String
    let port: Int
    let portRange: ClosedRange<Int>
    let token: String
    let tls: Bool
    let clientTLS: TLSConfiguration?
    /// The agent's process, when this test started it (nil when attached to one systemd runs).
    private let child: Mutex<ChildProcess?>
    private let arguments: [String]

    var baseURL: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }
    /// The certificate the agent made on its first start (beside its token, with `--user`).
    var certificatePath: String { stateDirectory + "/agent.crt" }
    var keyPath: String { stateDirectory + "/agent.key" }

    /// The fingerprint of the certificate the agent made (what an inventory pins).
    func fingerprint() throws -> CertificateFingerprint {
        let pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
        return try CertificateFingerprint(digest: SHA256.hash(data: try PEMDocument(pemString: pem).derBytes))
    }

    /// The typed client, pinned to the agent's certificate when it serves TLS.
    func client(token: String? = nil, timeout: Duration = .seconds(20)) throws -> AgentClient {
        AgentClient(host: "local", baseURL: baseURL, token: token ?? self.token,
                    transport: tls ? .pinned(try fingerprint()) : .plaintext, timeout: timeout)
    }
    var log: String { (try? String(contentsOfFile: stateDirectory + "/../agent-\(port).log", encoding: .utf8)) ?? "" }

    private static let portBlock = Atomic<Int>(0)

    /// Starts an agent with its own state directory and instance port range, and waits until
    /// `/v1/health` answers. `extraConfig` is TOML appended to its configuration file.
    /// `port`: listen there (e.g. where another agent was) instead of a free port. `clientTLS`:
    /// how this helper's own requests verify the agent (and present a client certificate),
    /// instead of trusting the certificate the agent made.
    static func start(on manager: ThrowawayUserManager, stateDirectory: String? = nil, listenAddress: String = "127.0.0.1", port: Int? = nil, tls: Bool = false,
                      clientTLS: TLSConfiguration? = nil, extraConfig: String = "") async throws -> AgentProcess {
        let state = stateDirectory ?? manager.root + "/agent-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let block = portBlock.add(1, ordering: .relaxed).newValue
        // Each agent of a run has its own 40 ports, below Linux's ephemeral range (32768+) where
        // clients' source ports would collide with instances' PORTs.
        precondition(block < 300, "more agents than instance port ranges")
        let low = 20000 + block * 40
        let range = low...(low + 39)
        let config = state + ".toml"
        try "port_range = \"\(range.lowerBound)-\(range.upperBound)\"\n\(tls ? "" : "tls = false\n")\(extraConfig)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let port = try port ?? freeLoopbackPort()
        let arguments = [
            "--user", "--listen", "\(listenAddress):\(port)", "--state-dir", state, "--unit-dir", manager.unitDirectory,
            "--bus", manager.busAddress.address, "--config", config,
        ]
        // An admin token, as a plain token file the agent moves into its store (as a hash)
        // and deletes on start: the test keeps the only copy.
        let token = try writeTokenFile(in: state)
        let child = try spawn(arguments, state: state, port: port)
        try manager.adopt(child.pid)
        let agent = AgentProcess(manager: manager, stateDirectory: state, port: port, portRange: range,
                                 token: token, tls: tls, clientTLS: clientTLS, child: child, arguments: arguments)
        try await agent.waitUntilHealthy()
        return agent
    }

    /// Writes a new random token to `<state>/token` (mode 0600) and returns it.
    static func writeTokenFile(in state: String) throws -> String {
        let token = "drover_test_" + (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        guard FileManager.default.createFile(atPath: state + "/token", contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw AgentTestError("cannot write \(state)/token")
        }
        return token
    }

    /// Makes a token with `drover-agent token add`, as an operator on the host would.
    func addToken(_ name: String, scope: String) async throws -> String {
        let output = stateDirectory + "/../token-\(name)-\(UUID().uuidString.prefix(6)).out"
        defer { unlink(output) }
        let child = try ChildProcess.spawn(agentPath, ["token", "add", name, "--scope", scope] + tokenCommandArguments,
                                           environment: ["PATH": "/usr/bin:/bin", "HOME": stateDirectory], output: output)
        let status = await child.wait()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0, let token = text.split(separator: "\n").first(where: { $0.hasPrefix("drover_") }) else {
            throw AgentTestError("drover-agent token add \(name) failed (exit \(status)): \(text)")
        }
        return String(token)
    }

    /// Runs `drover-agent token ARGUMENTS` on this agent's state; its exit status and output.
    func tokenCommand(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let output = stateDirectory + "/../token-\(UUID().uuidString.prefix(6)).out"
        defer { unlink(output) }
        let child = try ChildProcess.spawn(agentPath, ["token"] + arguments + tokenCommandArguments,
                                           environment: ["PATH": "/usr/bin:/bin", "HOME": stateDirectory], output: output)
        let status = await child.wait()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// The options that make `drover-agent token` find this agent's store.
    private var tokenCommandArguments: [String] { ["--user", "--state-dir", stateDirectory, "--config", stateDirectory + ".toml"] }

    /// Talks to an agent something else started (e.g. systemd, from its unit); cannot stop it.
    static func attach(manager: ThrowawayUserManager, stateDirectory: String, port: Int, token: String, tls: Bool = false) throws -> AgentProcess {
        return AgentProcess(manager: manager, stateDirectory: stateDirectory, port: port, portRange: 20000...29999,
                            token: token, tls: tls, clientTLS: nil, child: nil, arguments: [])
    }

    private init(manager: ThrowawayUserManager, stateDirectory: String, port: Int, portRange: ClosedRange<Int>,
                 token: String, tls: Bool, clientTLS: TLSConfiguration?, child: ChildProcess?, arguments: [String]) {
        self.manager = manager
        self.stateDirectory = stateDirectory
        self.port = port
        self.portRange = portRange
        self.token = token
        self.tls = tls
        self.clientTLS = clientTLS
        self.child = Mutex(child)
        self.arguments = arguments
    }

    private static func spawn(_ arguments: [String], state: String, port: Int) throws -> ChildProcess {
        try ChildProcess.spawn(
            agentPath, arguments,
            environment: ["PATH": "/usr/bin:/bin", "HOME": state, "LANG": "C.UTF-8", "LOG_LEVEL": "debug"],
            output: state + "/../agent-\(port).log"
        )
    }

    private func waitUntilHealthy() async throws {
        let healthy = await waitUntil(timeout: .seconds(30), interval: .milliseconds(20)) {
            if !isRunning { return true }
            return (try? await self.request(.GET, "/v1/health", authorized: false).status) == .ok
        }
        guard healthy, isRunning else {
            throw AgentTestError("drover-agent did not come up (running: \(isRunning)); its log:\n\(log)")
        }
    }

    var isRunning: Bool { child.withLock { $0?.isRunning ?? false } }

    /// The agent's process id, while it runs.
    var pid: Int32? { child.withLock { $0?.pid } }

    /// SIGTERM and wait for it to exit.
    func stop() async {
        guard let process = child.withLock({ $0 }) else { return }
        if process.isRunning { kill(process.pid, SIGTERM) }
        _ = await process.wait()
    }

    /// SIGKILL, as a crash would.
    func crash() async {
        guard let process = child.withLock({ $0 }) else { return }
        kill(process.pid, SIGKILL)
        _ = await process.wait()
    }

    /// Starts the agent again on the same state, port and configuration.
    func restart() async throws {
        let process = try Self.spawn(arguments, state: stateDirectory, port: port)
        try manager.adopt(process.pid)
        child.withLock { $0 = process }
        try await waitUntilHealthy()
    }

    // MARK: HTTP

    struct Reply {
        let status: HTTPResponseStatus
        let body: Data
        var headers: HTTPHeaders = [:]
        var text: String { String(decoding: body, as: UTF8.self) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            do {
                return try JSONDecoder.droverAPI.decode(T.self, from: body)
            } catch {
                throw AgentTestError("cannot decode \(T.self) from \(status): \(text)")
            }
        }

        var errorCode: String? { (try? JSONDecoder.droverAPI.decode(APIErrorBody.self, from: body))?.error.code }
    }

    /// The tests' client for agents: AsyncHTTPClient's defaults, but idle connections are not
    /// kept past the agent's idle timeout (15 s), which closes them: one reused just as the
    /// agent closed it failed a test with "I/O on closed channel".
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.idleTimeout = .seconds(5)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    func request(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [],
        authorized: Bool = true, token: String? = nil, baseURL: String? = nil
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: (baseURL ?? self.baseURL) + path)
        request.method = method
        if let clientTLS {
            request.tlsConfiguration = clientTLS
        } else if tls {
            // The agent's own certificate is the one root trusted (as a pin would).
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .file(certificatePath)
            configuration.certificateVerification = .noHostnameVerification
            request.tlsConfiguration = configuration
        }
        if authorized { request.headers.add(name: "Authorization", value: "Bearer \(token ?? self.token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                request.headers.add(name: "Content-Type", value: "application/octet-stream")
            }
        }
        let response = try await Self.client.execute(request, timeout: .seconds(60))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: response.status, body: Data(buffer: collected), headers: response.headers)
    }

    /// Uploads `artifact` as a release, with its correct digest unless told otherwise.
    func upload(_ service: String, _ version: String, artifact: Data, spec: String? = nil, digest: String? = nil) async throws -> Reply {
        var headers = [("Content-Digest", digest ?? contentDigest(of: artifact))]
        if let spec { headers.append(("Drover-Spec", Data(spec.utf8).base64EncodedString())) }
        return try await request(.PUT, "/v1/services/\(service)/releases/\(version)", body: artifact, headers: headers)
    }

    func scale(_ service: String, to count: Int) async throws -> Reply {
        try await request(.PUT, "/v1/services/\(service)/scale", body: Data(#"{"instances": \#(count)}"#.utf8),
                          headers: [("Content-Type", "application/json")])
    }

    func deploy(_ service: String, _ body: String) async throws -> Reply {
        try await request(.POST, "/v1/services/\(service)/deployments", body: Data(body.utf8), headers: [("Content-Type", "application/json")])
    }

    /// Waits for a deployment to finish and returns it.
    func finished(_ deployment: DeploymentInfo, timeout: Duration = .seconds(120)) async throws -> DeploymentInfo {
        var latest = deployment
        let done = await waitUntil(timeout: timeout, interval: .milliseconds(50)) {
            guard let current = try? await self.request(.GET, "/v1/deployments/\(deployment.id)").decode(DeploymentInfo.self) else { return false }
            latest = current
            return current.isFinished
        }
        guard done else { throw AgentTestError("deployment \(deployment.id) did not finish: \(latest.state) \(latest.reason ?? "")\n\(log.suffix(3000))") }
        return latest
    }

    /// Everything "the host's state" means for bad-input tests: the store's rows, the unit
    /// directory, and every file under the state directory (staging included).
    func hostState() async throws -> [String] {
        let store = try await DroverAgentStore.open(stateDirectory)
        let units = (try FileManager.default.contentsOfDirectory(atPath: manager.unitDirectory)).sorted()
        let files = (FileManager.default.enumerator(atPath: stateDirectory)?.allObjects as? [String] ?? [])
            .filter { !$0.hasPrefix("state.sqlite") }.sorted()
        return store + units.map { "unit: \($0)" } + files.map { "file: \($0)" }
    }
}

/// The built executables, next to this test binary.
let agentPath = builtExecutable("drover-agent")
let fixturePath = builtExecutable("drover-fixture")

func contentDigest(of data: Data) -> String {
    "sha-256=:" + Data(SHA256Digest.of(data)).base64EncodedString() + ":"
}

struct AgentTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
