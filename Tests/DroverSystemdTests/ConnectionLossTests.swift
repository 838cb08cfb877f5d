import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// When the manager goes away, callers get an error — never a hang.
@Suite(.timeLimit(.minutes(1)))
struct ConnectionLossTests {
    @Test func aPendingStartFailsAndLaterCallsSayDisconnected() async throws {
        let manager = try await ThrowawayUserManager.boot(journal: false)
        let systemd = try await SystemdClient.connect(to: manager.busAddress)
        // Never ready: the start job stays pending until the manager goes.
        try manager.installUnit("never-ready.service", contents: fixtureUnit(
            arguments: "--ready-when-exists \(manager.root)/never"
        ))
        try await systemd.reload()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let error = try await #require(throws: SystemdError.self) { try await systemd.startUnit("never-ready.service") }
                // systemd cancels the job as it shuts down, or the connection drops first.
                #expect([.jobCanceled, .disconnected].contains(error.code), "got \(error.code): \(error)")
            }
            let started = await waitUntil {
                (try? await systemd.status(of: "never-ready.service"))?.activeState == "activating"
            }
            #expect(started)
            await manager.shutdown()
            try await group.waitForAll()
        }

        let after = try await #require(throws: SystemdError.self) { try await systemd.listUnits(matching: []) }
        #expect(after.code == .disconnected)
    }
}
