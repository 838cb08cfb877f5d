import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// Named, scoped tokens as a client meets them: a scope that does not allow a request is a
/// 403 naming the one it needs, a revoked token fails at its next request, history names the
/// token (and client) of every change, no plain token is on disk, and a client guessing
/// tokens is made to wait while another address is served.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct AgentTokenTests {
    @Test func eachScopeDoesWhatItAllowsAndIsRefusedTheRest() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        defer { Task { await agent.stop() } }
        let service = try ServiceName(uniqueService("scopes"))
        let admin = try agent.client()
        _ = try await admin.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: ServiceSpec(binary: "web", type: .notify))

        let read = try agent.client(token: try await agent.addToken("dashboard", scope: "read"))
        #expect(try await read.services().map(\.name) == [service])
        #expect(try await read.metrics().contains("drover_"))
        let refused = try await #require(throws: AgentClientError.self) { try await read.scale(service, to: 1) }
        #expect(refused.kind == .agent(status: 403, code: "insufficient_scope") && refused.category == .denied, "\(refused)")
        #expect(refused.message.contains("'dashboard' has the scope read") && refused.message.contains("needs deploy"), "\(refused.message)")
        #expect(try await admin.service(service).desiredInstances == 0, "the refused scale changed nothing")

        let deploy = try agent.client(token: try await agent.addToken("ci", scope: "deploy"))
        #expect(try await deploy.scale(service, to: 1).instances.count == 1)
        let delete = try await #require(throws: AgentClientError.self) { try await deploy.deleteService(service) }
        #expect(delete.kind == .agent(status: 403, code: "insufficient_scope") && delete.message.contains("needs admin"), "\(delete)")
        try await admin.deleteService(service)

        // `token list`: names and scopes, never a token.
        let list = try await agent.tokenCommand(["list"])
        #expect(list.status == 0 && list.output.contains("dashboard") && list.output.contains("read") && list.output.contains("ci"), "\(list.output)")
        #expect(!list.output.contains("drover_"), "no token is listed: \(list.output)")
        let taken = try await agent.tokenCommand(["add", "ci", "--scope", "read"])
        #expect(taken.status != 0 && taken.output.contains("--replace"), "\(taken.output)")
    }

    @Test func aRevokedTokenFailsAtItsNextRequest() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        defer { Task { await agent.stop() } }
        let client = try agent.client(token: try await agent.addToken("laptop", scope: "deploy"))
        #expect(try await client.services().isEmpty)
        let revoke = try await agent.tokenCommand(["revoke", "laptop"])
        #expect(revoke.status == 0, "\(revoke.output)")
        let refused = try await #require(throws: AgentClientError.self) { try await client.services() }
        #expect(refused.kind == .agent(status: 401, code: "unauthorized"), "\(refused)")
        let again = try await agent.tokenCommand(["revoke", "laptop"])
        #expect(again.status != 0 && again.output.contains("no token named 'laptop'"), "\(again.output)")
    }

    @Test func historyNamesTheTokenAndClientOfEveryChange() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        defer { Task { await agent.stop() } }
        let service = try ServiceName(uniqueService("audit"))
        let ci = try agent.client(token: try await agent.addToken("ci", scope: "deploy"))
        _ = try await ci.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: ServiceSpec(binary: "web", type: .notify))
        let deployment = try await ci.deploy(service, DeploymentRequest(version: try ReleaseVersion("1"), instances: 1))
        _ = try await agent.finished(deployment)
        _ = try await ci.scale(service, to: 2)
        _ = try await ci.setAutoscale(service, AutoscalePolicy(min: 1, max: 3, cpu: 50))
        try await ci.deleteAutoscale(service)
        _ = try await ci.setLimits(service, InstanceLimits(cpuPercent: 150))
        try await ci.deleteLimits(service)

        let events = try await ci.events(of: service, limit: 1000)
        let byRequest = ["release.added", "deployment.started", "scale", "autoscale.enabled", "autoscale.disabled", "limits.set", "limits.removed"]
        for kind in byRequest {
            let matching = events.filter { $0.kind == kind }
            #expect(!matching.isEmpty && matching.allSatisfy { $0.by == "ci" && $0.from == "127.0.0.1" }, "\(kind): \(matching)")
        }
        #expect(events.filter { $0.kind == "deployment.progress" }.allSatisfy { $0.by == nil }, "the agent's own steps name no token")

        // `drover history` shows who.
        let repository = try makeTestbedDirectory("history")
        defer { try? FileManager.default.removeItem(atPath: repository) }
        try FileManager.default.createDirectory(atPath: repository + "/deploy", withIntermediateDirectories: true)
        try (agent.token + "\n").write(toFile: repository + "/deploy/token", atomically: true, encoding: .utf8)
        try "[hosts.h]\naddress = \"127.0.0.1\"\nport = \(agent.port)\nplaintext = true\ntoken_file = \"token\"\n"
            .write(toFile: repository + "/deploy/hosts.toml", atomically: true, encoding: .utf8)
        let history = try await Fleet.Run.drover(in: repository, ["history", service.rawValue, "-n", "100"])
        #expect(history.status == 0, "\(history)")
        let scaleLine = try #require(history.stdout.split(separator: "\n").first { $0.contains(" scale ") }, "\(history)")
        #expect(scaleLine.contains("ci@127.0.0.1"), "\(scaleLine)")
        #expect(history.stdout.split(separator: "\n").contains { $0.contains("deployment.progress") && $0.contains(" agent ") }, "\(history)")
    }

    @Test func noTokenIsOnDiskInPlainForm() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        defer { Task { await agent.stop() } }
        let made = try await agent.addToken("ops", scope: "admin")
        #expect(try await agent.client(token: made).services().isEmpty)
        #expect(try await agent.client().services().isEmpty, "the migrated token works")
        #expect(!FileManager.default.fileExists(atPath: agent.stateDirectory + "/token"), "the plain token file was moved into the store and deleted")
        var searched = 0
        for root in [agent.stateDirectory, bed.manager.unitDirectory] {
            for case let relative as String in FileManager.default.enumerator(atPath: root) ?? FileManager.default.enumerator(atPath: "/")! {
                let path = root + "/" + relative
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                searched += 1
                for token in [made, agent.token] {
                    #expect(data.range(of: Data(token.utf8)) == nil, "\(path) holds a token")
                }
            }
        }
        for path in [agent.stateDirectory + ".toml"] {
            #expect(FileManager.default.contents(atPath: path).map { $0.range(of: Data(made.utf8)) == nil } ?? true)
        }
        #expect(searched > 3, "the store and its WAL were searched (\(searched) files)")
        #expect(!agent.log.contains(made) && !agent.log.contains(agent.token), "no token in the agent's log")
    }

    @Test func aClientGuessingTokensWaitsAndAnotherAddressIsServed() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(extraConfig: "auth_failures_per_minute = 5")
        defer { Task { await agent.stop() } }
        for attempt in 1...5 {
            let guess = try RawHTTP.get(port: agent.port, path: "/v1/services", token: "drover_guess\(attempt)", from: "127.0.0.1")
            #expect(guess.status == 401, "attempt \(attempt): \(guess)")
        }
        let blocked = try RawHTTP.get(port: agent.port, path: "/v1/services", token: "drover_guess6", from: "127.0.0.1")
        #expect(blocked.status == 429 && (Int(blocked.retryAfter ?? "") ?? 0) > 0, "\(blocked)")
        let blockedValid = try RawHTTP.get(port: agent.port, path: "/v1/services", token: agent.token, from: "127.0.0.1")
        #expect(blockedValid.status == 429, "while it waits, the address's tokens are not even looked at: \(blockedValid)")
        // Another address: its valid token is served, and its wrong one is a plain 401.
        #expect(try RawHTTP.get(port: agent.port, path: "/v1/services", token: agent.token, from: "127.0.0.2").status == 200)
        #expect(try RawHTTP.get(port: agent.port, path: "/v1/services", token: "drover_wrong", from: "127.0.0.2").status == 401)
        // Health needs no token and is never held back.
        #expect(try RawHTTP.get(port: agent.port, path: "/v1/health", token: "x", from: "127.0.0.1").status == 200)
    }
}
