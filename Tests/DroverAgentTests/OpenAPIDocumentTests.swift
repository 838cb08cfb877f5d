import DroverAPI
import Foundation
import NIOHTTP1
import Synchronization
import Testing

/// `Sources/DroverAPI/openapi.json` against the running agent: every documented operation
/// exists and answers a basic call with its documented success status, and every route the
/// test knows is documented.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct OpenAPIDocumentTests {
    struct Operation: Hashable, CustomStringConvertible {
        let method: String
        let path: String
        let operationID: String
        let statuses: Set<Int>
        var description: String { "\(method.uppercased()) \(path) (\(operationID))" }
    }

    static func documentedOperations() throws -> [Operation] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/DroverAPI/openapi.json").standardized
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.") == true)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var operations: [Operation] = []
        for (path, item) in paths {
            for (method, value) in item where ["get", "put", "post", "delete", "patch"].contains(method) {
                let operation = try #require(value as? [String: Any])
                let responses = try #require(operation["responses"] as? [String: Any])
                operations.append(Operation(
                    method: method, path: path, operationID: try #require(operation["operationId"] as? String),
                    statuses: Set(responses.keys.compactMap(Int.init))
                ))
            }
        }
        return operations
    }

    @Test func everyDocumentedOperationAnswersAsDocumented() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("doc")
        let fixture = AgentLifecycleTests.fixture
        let deployment = Mutex<DeploymentInfo?>(nil)

        // A basic call per operation, in an order that makes each meaningful, with its expected status.
        let calls: [(String, HTTPResponseStatus, () async throws -> AgentProcess.Reply)] = [
            ("health", .ok, { try await agent.request(.GET, "/v1/health", authorized: false) }),
            ("openapi", .ok, { try await agent.request(.GET, "/v1/openapi.json") }),
            ("uploadRelease", .created, { try await agent.upload(service, "1", artifact: fixture, spec: #"{"binary": "web", "type": "notify"}"#) }),
            ("listServices", .ok, { try await agent.request(.GET, "/v1/services") }),
            ("getService", .ok, { try await agent.request(.GET, "/v1/services/\(service)") }),
            ("listReleases", .ok, { try await agent.request(.GET, "/v1/services/\(service)/releases") }),
            ("scaleService", .ok, { try await agent.scale(service, to: 1) }),
            ("listInstances", .ok, { try await agent.request(.GET, "/v1/services/\(service)/instances") }),
            ("getLogs", .ok, { try await agent.request(.GET, "/v1/services/\(service)/logs?lines=5") }),
            ("setAutoscale", .ok, {
                try await agent.request(.PUT, "/v1/services/\(service)/autoscale", body: Data(#"{"min": 1, "max": 2, "cpu": 0.5}"#.utf8),
                                        headers: [("Content-Type", "application/json")])
            }),
            ("getAutoscale", .ok, { try await agent.request(.GET, "/v1/services/\(service)/autoscale") }),
            ("metrics", .ok, { try await agent.request(.GET, "/metrics") }),
            ("setLimits", .ok, {
                try await agent.request(.PUT, "/v1/services/\(service)/limits", body: Data(#"{"memoryBytes": 268435456}"#.utf8),
                                        headers: [("Content-Type", "application/json")])
            }),
            ("getLimits", .ok, { try await agent.request(.GET, "/v1/services/\(service)/limits") }),
            ("startRun", .ok, {
                try await agent.request(.POST, "/v1/services/\(service)/runs", body: Data(#"{"command": ["/bin/true"], "timeoutSeconds": 30}"#.utf8),
                                        headers: [("Content-Type", "application/json")])
            }),
            ("stopRun", .notFound, { try await agent.request(.DELETE, "/v1/services/\(service)/runs/0123456789ab") }),
            ("deleteLimits", .noContent, { try await agent.request(.DELETE, "/v1/services/\(service)/limits") }),
            ("deleteAutoscale", .noContent, { try await agent.request(.DELETE, "/v1/services/\(service)/autoscale") }),
            ("listEvents", .ok, { try await agent.request(.GET, "/v1/events?service=\(service)&limit=10&since=1") }),
            ("startDeployment", .accepted, {
                _ = try await agent.upload(service, "2", artifact: fixture, spec: #"{"binary": "web", "type": "notify"}"#)
                let reply = try await agent.deploy(service, #"{"version": "2", "strategy": {"minHealthySeconds": 0}}"#)
                deployment.withLock { $0 = try? reply.decode(DeploymentInfo.self) }
                return reply
            }),
            ("getDeployment", .ok, { try await agent.request(.GET, "/v1/deployments/\(deployment.withLock { $0 }?.id ?? "-")") }),
            ("followDeployment", .ok, { try await agent.request(.GET, "/v1/deployments/\(deployment.withLock { $0 }?.id ?? "-")/events") }),
            ("rollback", .accepted, {
                _ = try await agent.finished(try #require(deployment.withLock { $0 }))
                let reply = try await agent.request(.POST, "/v1/services/\(service)/rollback")
                deployment.withLock { $0 = try? reply.decode(DeploymentInfo.self) }
                return reply
            }),
            // Not an operation of its own: lets the rollback finish before the service is deleted.
            ("awaitRollback", .ok, {
                _ = try await agent.finished(try #require(deployment.withLock { $0 }))
                return try await agent.request(.GET, "/v1/services/\(service)")
            }),
            ("promoteDeployment", .conflict, { try await agent.request(.POST, "/v1/deployments/\(deployment.withLock { $0 }?.id ?? "-")/promote") }),
            ("abortDeployment", .conflict, { try await agent.request(.POST, "/v1/deployments/\(deployment.withLock { $0 }?.id ?? "-")/abort") }),
            ("takeLease", .ok, {
                try await agent.request(.PUT, "/v1/services/\(service)/lease", body: Data(#"{"id": "doc-lease-0001", "holder": "doc@test", "operation": "lock", "ttlSeconds": 60}"#.utf8),
                                        headers: [("Content-Type", "application/json")])
            }),
            ("getLease", .ok, { try await agent.request(.GET, "/v1/services/\(service)/lease") }),
            ("releaseLease", .noContent, { try await agent.request(.DELETE, "/v1/services/\(service)/lease?id=doc-lease-0001") }),
            ("deleteService", .noContent, { try await agent.request(.DELETE, "/v1/services/\(service)") }),
        ]
        let documented = try Self.documentedOperations()
        let helpers: Set<String> = ["awaitRollback"]
        #expect(Set(documented.map(\.operationID)) == Set(calls.map(\.0)).subtracting(helpers), "the document and the routes list the same operations")

        for (operationID, expected, call) in calls {
            if helpers.contains(operationID) {
                #expect(try await call().status == expected)
                continue
            }
            let operation = try #require(documented.first { $0.operationID == operationID })
            let reply = try await call()
            #expect(reply.status == expected, "\(operation): \(reply.status) \(reply.text)")
            #expect(operation.statuses.contains(Int(expected.code)), "\(operation) documents \(expected.code)")
        }
        await agent.stop()
    }

    /// What schemathesis found the document allowing and the agent refusing: each is now
    /// refused by the document too, and the agent's answer is one the document names.
    @Test func theDocumentIsNoLooserThanTheAgent() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(extraConfig: "max_instances = 7")
        let service = uniqueService("strict")
        #expect(try await agent.upload(service, "1", artifact: AgentLifecycleTests.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        let servedBody = try await agent.request(.GET, "/v1/openapi.json").body
        let served = try #require(try JSONSerialization.jsonObject(with: servedBody) as? [String: Any])
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/DroverAPI/openapi.json").standardized)) as? [String: Any])
        func value(_ document: [String: Any], _ path: [String]) -> Any? {
            path.reduce(document as Any?) { ($0 as? [String: Any])?[$1] }
        }
        func pattern(_ path: [String]) throws -> NSRegularExpression {
            try NSRegularExpression(pattern: try #require(value(file, path) as? String))
        }
        func matches(_ regex: NSRegularExpression, _ text: String) -> Bool {
            regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }

        // The host's max_instances is the maximum the served document states.
        for path in [["ScaleRequest", "properties", "instances"], ["DeploymentRequest", "properties", "instances"],
                     ["AutoscalePolicy", "properties", "min"], ["AutoscalePolicy", "properties", "max"]] {
            #expect(value(served, ["components", "schemas"] + path + ["maximum"]) as? Int == 7, "\(path)")
        }
        #expect(try await agent.scale(service, to: 7).status == .ok)
        #expect(try await agent.scale(service, to: 8).status == .badRequest)
        #expect(try await agent.scale(service, to: 0).status == .ok)

        // rollback {"to": ""}: the document's pattern refuses it, and so does the agent (400).
        let rollbackTo = try pattern(["paths", "/v1/services/{service}/rollback", "post", "requestBody", "content", "application/json", "schema", "properties", "to", "pattern"])
        #expect(!matches(rollbackTo, "") && matches(rollbackTo, "1.2-rc1"))
        let rollback = try await agent.request(.POST, "/v1/services/\(service)/rollback", body: Data(#"{"to": ""}"#.utf8), headers: [("Content-Type", "application/json")])
        #expect(rollback.status == .badRequest, "\(rollback.text)")

        // PUT /limits {}: at least one property.
        #expect(value(file, ["components", "schemas", "InstanceLimits", "minProperties"]) as? Int == 1)
        let limits = try await agent.request(.PUT, "/v1/services/\(service)/limits", body: Data("{}".utf8), headers: [("Content-Type", "application/json")])
        #expect(limits.status == .badRequest, "\(limits.text)")

        // An empty Content-Digest: the document's format refuses it, and the agent answers 400.
        let parameters = try #require(value(file, ["paths", "/v1/services/{service}/releases/{version}", "put", "parameters"]) as? [[String: Any]])
        let digestParameter = try #require(parameters.first { $0["name"] as? String == "Content-Digest" })
        let digestPattern = try NSRegularExpression(pattern: try #require(value(digestParameter, ["schema", "pattern"]) as? String))
        #expect(!matches(digestPattern, "") && matches(digestPattern, contentDigest(of: AgentLifecycleTests.fixture)))
        #expect(try await agent.upload(service, "2", artifact: AgentLifecycleTests.fixture, digest: "").status == .badRequest)

        // A method a path does not take, or that no route takes: 405 with Allow.
        for (method, path, allow) in [("TRACE", "/v1/services", "GET"), ("PATCH", "/v1/services/\(service)/scale", "PUT"),
                                      ("DELETE", "/v1/health", "GET"), ("TRACE", "/nowhere", "")] {
            let reply = try await agent.request(HTTPMethod(rawValue: method), path)
            #expect(reply.status == .methodNotAllowed, "\(method) \(path): \(reply.status) \(reply.text)")
            #expect(reply.headers["Allow"].first == allow, "\(method) \(path): Allow \(reply.headers["Allow"])")
        }
        #expect(try await agent.request(.GET, "/v1/nowhere").status == .notFound, "an unknown path with a known method is still 404")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func everyGuardedOperationRefusesAMissingTokenAsDocumented() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        for operation in try Self.documentedOperations() where operation.operationID != "health" {
            let path = operation.path.replacingOccurrences(of: "{service}", with: "x").replacingOccurrences(of: "{version}", with: "1")
            let path2 = path.replacingOccurrences(of: "{id}", with: "x")
            let reply = try await agent.request(HTTPMethod(rawValue: operation.method.uppercased()), path2, authorized: false)
            #expect(reply.status == .unauthorized, "\(operation)")
            #expect(operation.statuses.contains(401), "\(operation) documents 401")
        }
        await agent.stop()
    }
}
