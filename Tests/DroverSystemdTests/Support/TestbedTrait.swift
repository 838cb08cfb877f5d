import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// Boots one throwaway systemd user manager around a whole suite and shuts it down after,
/// whatever the outcome. Tests reach it (and a connected client) through `Testbed.current`.
struct TestbedTrait: SuiteTrait, TestScoping {
    let journal: Bool

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await HostCPUGate.shared.sharing { try await withManager(function) }
    }

    private func withManager(_ function: @Sendable () async throws -> Void) async throws {
        let manager = try await ThrowawayUserManager.boot(journal: journal)
        do {
            let systemd = try await SystemdClient.connect(to: manager.busAddress)
            try await Testbed.$current.withValue(Testbed(manager: manager, systemd: systemd)) {
                try await function()
            }
            await systemd.close()
        } catch {
            await manager.shutdown()
            throw error
        }
        await manager.shutdown()
    }
}

extension Trait where Self == TestbedTrait {
    /// A throwaway systemd user manager for the suite (with its own journald unless told not to).
    static func userManager(journal: Bool = true) -> Self { TestbedTrait(journal: journal) }
}

/// What a test under `.userManager()` gets.
struct Testbed: Sendable {
    @TaskLocal static var current: Testbed?

    let manager: ThrowawayUserManager
    let systemd: SystemdClient

    static func require() throws -> Testbed {
        try #require(current, "this test needs the .userManager() suite trait")
    }

    /// Installs a unit file and reloads the manager so it is known.
    func install(_ name: String, _ contents: String) async throws {
        try manager.installUnit(name, contents: contents)
        try await systemd.reload()
    }
}

/// The fixture service binary, built next to this test binary.
let fixturePath = builtExecutable("drover-fixture")

/// A unit name unique to one test, so tests sharing a manager never collide.
func uniqueUnitName(_ base: String, template: Bool = false) -> String {
    let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    return "\(base)-\(suffix)\(template ? "@" : "").service"
}

/// A `[Service]` unit that runs the fixture with `arguments`.
func fixtureUnit(type: String = "notify", arguments: String = "", extra: String = "") -> String {
    """
    [Unit]
    Description=Drover test unit

    [Service]
    Type=\(type)
    ExecStart=\(fixturePath) \(arguments)
    TimeoutStartSec=15
    \(extra)

    """
}
