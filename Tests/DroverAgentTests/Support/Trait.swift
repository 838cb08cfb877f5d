import DroverSystemd
import DroverTestbed
import Testing

/// One throwaway systemd user manager for the suite; each test starts its own agent on it.
/// The suite shares the host's CPU with other suites, or (`exclusiveCPU`) runs alone.
struct ManagerTrait: SuiteTrait, TestScoping {
    var exclusiveCPU = false

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        if exclusiveCPU {
            try await HostCPUGate.shared.exclusively { try await withManager(function) }
        } else {
            try await HostCPUGate.shared.sharing { try await withManager(function) }
        }
    }

    private func withManager(_ function: @Sendable () async throws -> Void) async throws {
        let manager = try await ThrowawayUserManager.boot()
        do {
            let systemd = try await SystemdClient.connect(to: manager.busAddress)
            try await Bed.$current.withValue(Bed(manager: manager, systemd: systemd)) { try await function() }
            await systemd.close()
        } catch {
            await manager.shutdown()
            throw error
        }
        await manager.shutdown()
    }
}

extension Trait where Self == ManagerTrait {
    static var userManager: Self { ManagerTrait() }
    /// For tests that measure real CPU use: no other suite runs meanwhile.
    static var userManagerWithTheCPUToItself: Self { ManagerTrait(exclusiveCPU: true) }
}

struct Bed: Sendable {
    @TaskLocal static var current: Bed?
    let manager: ThrowawayUserManager
    let systemd: SystemdClient

    static func require() throws -> Bed { try #require(current, "needs the .userManager suite trait") }

    /// A fresh agent on this suite's manager; stopped by the caller.
    func agent(tls: Bool = false, extraConfig: String = "") async throws -> AgentProcess {
        // The manager's own journal, so failures carry the instances' last lines.
        let journal = manager.journalDirectory.map { "journal_dir = \"\($0)\"\n" } ?? ""
        return try await AgentProcess.start(on: manager, tls: tls, extraConfig: journal + extraConfig)
    }
}

/// A service name unique to one test.
func uniqueService(_ base: String) -> String {
    "\(base)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
}
