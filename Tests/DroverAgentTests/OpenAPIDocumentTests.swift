import DroverAPI
import Foundation
import NIOHTTP1
import Synchronization
import Testing

/// `Sources/DroverAPI/openapi.json` against the running agent: every documented operation
/// exists and answers a basic call with its documented success status, and every route the
/// test knows is documented.
@Suite(.userManager, .timeLimit(.minutes(2)))
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
