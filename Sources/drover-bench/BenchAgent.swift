import ArgumentParser
import AsyncHTTPClient
import Crypto
import DroverAPI
import DroverTestbed
import Foundation
import NIOCore
import NIOHTTP1

/// A release-built `drover-agent` on a throwaway manager, for benchmarks: started, reached
/// over HTTP, stopped. Its process is adopted by the manager, so nothing outlives the run.
struct BenchAgent {
    let manager: ThrowawayUserManager
    let process: ChildProcess
    let base: String
    let token: String
    let work: String

    /// Boots a manager and an agent on it, runs `body`, and tears both down whatever happens.
    static func with(journal: Bool = false, _ body: (BenchAgent) async throws -> Void) async throws {
        let manager = try await ThrowawayUserManager.boot(journal: journal)
        do {
            let agent = try await start(on: manager)
            try await body(agent)
            kill(agent.process.pid, SIGTERM)
            _ = await agent.process.wait()
        } catch {
            await manager.shutdown()
            throw error
        }
        await manager.shutdown()
    }

    /// Starts one more agent on `manager`, with a state directory of its own (`name`).
    static func start(on manager: ThrowawayUserManager, name: String = "bench") async throws -> BenchAgent {
        let work = manager.root + "/" + name
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        // Plain HTTP on loopback, as the figures before TLS were taken: what is measured is the agent's work.
        let journal = manager.journalDirectory.map { "journal_dir = \"\($0)\"\n" } ?? ""
        try ("tls = false\n" + journal).write(toFile: work + "/agent.toml", atomically: true, encoding: .utf8)
        // An admin token as a plain file, which the agent moves into its store on start; a
        // copy stays with the benchmark (work/token) for its clients and inventories.
        try FileManager.default.createDirectory(atPath: work + "/state", withIntermediateDirectories: true)
        let token = "drover_bench_" + (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        for path in [work + "/state/token", work + "/token"] {
            guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(path)")
            }
        }
        let process = try ChildProcess.spawn(
            builtExecutable("drover-agent"),
            ["--user", "--listen", "127.0.0.1:\(port)", "--state-dir", work + "/state", "--unit-dir", manager.unitDirectory,
             "--bus", manager.busAddress.address, "--config", work + "/agent.toml"],
            environment: ["PATH": "/usr/bin:/bin", "HOME": work, "LOG_LEVEL": "warning"], output: work + "/agent.log"
        )
        try manager.adopt(process.pid)
        let base = "http://127.0.0.1:\(port)"
        let up = await waitUntil(timeout: .seconds(30)) {
            (try? await HTTPClient.shared.get(url: base + "/v1/health").get().status) == .ok
        }
        guard up else { throw ValidationError("the agent did not come up; see \(work)/agent.log") }
        return BenchAgent(manager: manager, process: process, base: base, token: token, work: work)
    }

    /// A request with the token; throws unless the status is `expected`.
    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, length: Int64? = nil,
              headers: [(String, String)] = [], expect expected: HTTPResponseStatus) async throws -> Data {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await HTTPClient.shared.execute(request, timeout: .minutes(10))
        let collected = try await response.body.collect(upTo: 16 << 20)
        let data = Data(collected.readableBytesView)
        guard response.status == expected else {
            throw ValidationError("\(method) \(path): \(response.status) \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }

    func upload(_ data: Data, service: String, version: String, spec: String? = nil) async throws {
        var headers = [("Content-Digest", "sha-256=:\(Data(SHA256.hash(data: data)).base64EncodedString()):")]
        if let spec { headers.append(("Drover-Spec", Data(spec.utf8).base64EncodedString())) }
        try await call(.PUT, "/v1/services/\(service)/releases/\(version)", body: ByteBuffer(bytes: data), headers: headers, expect: .created)
    }

    /// Waits for a deployment to end; throws unless it succeeded.
    func awaitDeployment(_ data: Data) async throws {
        let deployment = try JSONDecoder.droverAPI.decode(DeploymentInfo.self, from: data)
        var latest = deployment
        let finished = await waitUntil(timeout: .seconds(300), interval: .milliseconds(5)) {
            guard let data = try? await call(.GET, "/v1/deployments/\(deployment.id)", expect: .ok),
                  let current = try? JSONDecoder.droverAPI.decode(DeploymentInfo.self, from: data) else { return false }
            latest = current
            return current.isFinished
        }
        guard finished, latest.state == .succeeded else {
            throw ValidationError("deployment \(latest.id) ended \(latest.state): \(latest.reason ?? "")")
        }
    }
}
