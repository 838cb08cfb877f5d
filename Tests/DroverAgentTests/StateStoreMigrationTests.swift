@testable import DroverAgent
import DroverAPI
import DroverCore
import Foundation
import GRDB
import Testing

/// Migrations move an older agent's store forward without losing what it knew.
@Suite struct StateStoreMigrationTests {
    @Test func deploymentEventsWrittenBeforeTheirColumnAreStillFoundByDeployment() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drover-migration-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/state.sqlite"
        let id = UUID().uuidString.lowercased(), other = UUID().uuidString.lowercased()

        // The store as an agent before migration 0005 left it.
        let queue = try DatabaseQueue(path: path)
        try StateStore.migrator.migrate(queue, upTo: "0004-instance-limits")
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO services (name, created_at) VALUES ('web', datetime('now'))")
            for (kind, deployment) in [("deployment.started", id), ("deployment.step", id), ("deployment.started", other), ("scale", nil)] {
                let message = deployment.map { "deployment \($0): something" } ?? "instances 1 → 2"
                try db.execute(sql: "INSERT INTO events (time, service, kind, message) VALUES (datetime('now'), 'web', ?, ?)", arguments: [kind, message])
            }
        }
        try queue.close()

        let store = try StateStore(path: path)
        let events = try await store.events(ofDeployment: id, service: try ServiceName("web"), after: 0)
        #expect(events.map(\.kind) == ["deployment.started", "deployment.step"])
        await #expect(try store.events(ofDeployment: other, service: try ServiceName("web"), after: 0).count == 1)
    }
}
