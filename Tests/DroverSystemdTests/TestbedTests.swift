import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// The test bed itself: managers side by side, and nothing left behind.
@Suite(.timeLimit(.minutes(10)))
struct TestbedTests {
    @Test func twoManagersRunSideBySideWithoutSeeingEachOther() async throws {
        async let first = ThrowawayUserManager.boot(journal: false)
        async let second = ThrowawayUserManager.boot(journal: false)
        let (a, b) = try await (first, second)
        do {
            #expect(a.pid != b.pid)
            #expect(a.cgroupName != b.cgroupName)
            let clientA = try await SystemdClient.connect(to: a.busAddress)
            let clientB = try await SystemdClient.connect(to: b.busAddress)
            try a.installUnit("only-in-a.service", contents: fixtureUnit())
            try await clientA.reload()
            try await clientB.reload()
            try await clientA.startUnit("only-in-a.service")
            #expect(try await clientA.status(of: "only-in-a.service").isActive)
            let error = try await #require(throws: SystemdError.self) { try await clientB.startUnit("only-in-a.service") }
            #expect(error.code == .noSuchUnit)
            await clientA.close()
            await clientB.close()
        }
        await a.shutdown()
        await b.shutdown()
    }

    @Test func shutdownLeavesNoProcessCgroupOrDirectory() async throws {
        let manager = try await ThrowawayUserManager.boot()
        let systemd = try await SystemdClient.connect(to: manager.busAddress)
        // A unit that ignores SIGTERM and whose stop does not kill: only cgroup.kill ends it.
        try manager.installUnit("stubborn.service", contents: fixtureUnit(
            type: "simple", arguments: "", extra: "KillMode=none\nTimeoutStopSec=1"
        ))
        try await systemd.reload()
        try await systemd.startUnit("stubborn.service")
        let unitPID = try #require(try await systemd.status(of: "stubborn.service").mainPID)
        let journald = try await systemd.status(of: "drover-testbed-journald.service")
        #expect(journald.isActive, "the test bed's journald runs as a unit of the manager")
        await systemd.close()

        await manager.shutdown()
        #expect(!isProcessRunning(manager.pid), "the manager is gone")
        #expect(await waitUntil { !isProcessRunning(unitPID) }, "processes of its units are gone")
        let roots = try #require(try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/unified"))
        #expect(!roots.contains(manager.cgroupName), "its cgroup is removed")
        #expect(!FileManager.default.fileExists(atPath: manager.root), "its directory is removed")
    }

    @Test func shutdownEndsProcessesTheTestAdopted() async throws {
        let manager = try await ThrowawayUserManager.boot(journal: false)
        let stray = try ChildProcess.spawn("/bin/sleep", ["1000"])
        try manager.adopt(stray.pid)
        #expect(stray.isRunning)
        await manager.shutdown()
        #expect(await stray.wait() == 128 + SIGKILL, "an adopted process does not outlive the manager")
        let roots = try FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/unified")
        #expect(!roots.contains { $0.hasPrefix(manager.cgroupName) }, "the adoption cgroup is removed too")
    }
}
