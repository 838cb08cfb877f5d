import Foundation
@testable import DroverSystemd
import Testing

/// The parts of the systemd adapter that need no systemd: encoding and mapping.
@Suite struct PureAdapterTests {
    @Test func addressValuesAreEscaped() {
        #expect(BusAddress.escapeAddressValue("/run/user/0/bus") == "/run/user/0/bus")
        #expect(BusAddress.escapeAddressValue("/tmp/a b,c;d=e") == "/tmp/a%20b%2cc%3bd%3de")
        #expect(BusAddress.systemdPrivate(runtimeDirectory: "/tmp/x y").address == "unix:path=/tmp/x%20y/systemd/private")
        #expect(!BusAddress.systemdPrivate(runtimeDirectory: "/run").viaBusDaemon)
    }

    @Test func sessionAddressPrefersTheEnvironment() {
        #expect(BusAddress.session(environment: ["DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"])?.address == "unix:path=/x")
        #expect(BusAddress.session(environment: ["XDG_RUNTIME_DIR": "/run/user/7"])?.address == "unix:path=/run/user/7/bus")
        #expect(BusAddress.session(environment: [:]) == nil)
        #expect(BusAddress.system(environment: [:]).address == "unix:path=/run/dbus/system_bus_socket")
    }

    @Test(arguments: [
        ("failed", SystemdError.Code.jobFailed), ("timeout", .jobTimedOut), ("canceled", .jobCanceled),
        ("dependency", .jobDependencyFailed), ("skipped", .jobSkipped), ("invalid", .jobFailed),
    ])
    func jobResultsOtherThanDoneAreTypedErrors(_ result: String, _ code: SystemdError.Code) {
        let error = #expect(throws: SystemdError.self) {
            try SystemdClient.check(jobResult: result, method: "StartUnit", unit: "a.service")
        }
        #expect(error?.code == code)
        #expect(error?.unit == "a.service")
        #expect(error?.message.contains("start a.service") == true)
    }

    @Test func doneIsSuccess() throws {
        try SystemdClient.check(jobResult: "done", method: "StopUnit", unit: "a.service")
    }

    @Test func busErrorsMapToCodesAndNameTheUnit() {
        let missing = SystemdError.fromBus(
            name: "org.freedesktop.systemd1.NoSuchUnit", message: "Unit a.service not found.", unit: "a.service"
        )
        #expect(missing.code == .noSuchUnit)
        #expect(missing.message == "Unit a.service not found.")
        let denied = SystemdError.fromBus(name: "org.freedesktop.DBus.Error.AccessDenied", message: "Access denied", unit: "b.service")
        #expect(denied.code == .accessDenied)
        #expect(denied.message == "b.service: Access denied")
        let closed = SystemdError.fromBus(name: "org.freedesktop.DBus.Error.NoReply", message: "Connection terminated", unit: nil)
        #expect(closed.code == .disconnected)
        let slow = SystemdError.fromBus(name: "org.freedesktop.DBus.Error.NoReply", message: "Method call timed out", unit: nil)
        #expect(slow.code == .timedOut)
        let odd = SystemdError.fromBus(name: "org.example.Weird", message: "", unit: nil)
        #expect(odd.code == .other)
        #expect(odd.message == "org.example.Weird")
    }

    @Test func propertyChangesEncodeAsSystemdExpects() {
        #expect(UnitPropertyChange.cpuQuota(percent: 50).assignment == ("CPUQuotaPerSecUSec", 500_000))
        #expect(UnitPropertyChange.cpuQuota(percent: 150).assignment == ("CPUQuotaPerSecUSec", 1_500_000))
        #expect(UnitPropertyChange.cpuQuota(percent: nil).assignment == ("CPUQuotaPerSecUSec", .max))
        #expect(UnitPropertyChange.memoryMax(bytes: 1 << 30).assignment == ("MemoryMax", 1 << 30))
        #expect(UnitPropertyChange.memoryMax(bytes: nil).assignment == ("MemoryMax", .max))
        #expect(UnitPropertyChange.tasksMax(64).assignment == ("TasksMax", 64))
    }

    @Test func notifyStatesFollowTheProtocol() {
        #expect(SystemdNotifier.State.ready.assignment == "READY=1")
        #expect(SystemdNotifier.State.watchdog.assignment == "WATCHDOG=1")
        #expect(SystemdNotifier.State.stopping.assignment == "STOPPING=1")
        // A newline would end the assignment and start another one.
        #expect(SystemdNotifier.State.status("a\nREADY=1").assignment == "STATUS=a READY=1")
    }

    @Test func notifyWithoutAManagerIsANoOp() {
        // Tests do not run under systemd's notify socket.
        #expect(SystemdNotifier().notify(.ready) == false)
        #expect(SystemdNotifier().watchdogTimeout == nil)
    }

    @Test func statusTreatsUnsetValuesAsMissing() {
        let status = UnitStatus(
            name: "a.service",
            unit: ["LoadState": .string("loaded"), "ActiveState": .string("active"), "SubState": .string("running"),
                   "InvocationID": .bytes([0x0a, 0xff] + Array(repeating: 0, count: 14))],
            typeSpecific: ["MainPID": .uint(42), "MemoryCurrent": .uint(.max), "CPUUsageNSec": .uint(7),
                           "ExecMainCode": .int(0), "ExecMainStatus": .int(0), "ControlGroup": .string(""),
                           "NRestarts": .uint(2), "MemoryMax": .uint(.max)]
        )
        #expect(status.mainPID == 42)
        #expect(status.memoryCurrent == nil, "UINT64_MAX means not set, not 16 EiB")
        #expect(status.memoryMax == nil)
        #expect(status.cpuUsageNanoseconds == 7)
        #expect(status.execMainCode == nil)
        #expect(status.execMainStatus == nil, "no process has exited yet")
        #expect(status.controlGroup == nil)
        #expect(status.restartCount == 2)
        #expect(status.invocationID == "0aff" + String(repeating: "0", count: 28))
    }

    @Test func busValuesDecodeDictionaries() {
        let value = BusValue.array([.structure([.string("a"), .uint(1)]), .structure([.string("b"), .bool(true)])])
        #expect(value.dictionary == ["a": .uint(1), "b": .bool(true)])
        #expect(BusValue.array([.uint(1)]).dictionary == nil)
        #expect(BusValue.int(-1).uint64 == nil)
        #expect(BusValue.uint(.max).int64 == nil)
    }

    @Test func unitObjectPathsAreEscaped() throws {
        #expect(try SystemdClient.objectPath(of: "drover-web_1.0@2.service")
            == "/org/freedesktop/systemd1/unit/drover_2dweb_5f1_2e0_402_2eservice")
    }
}

/// The cgroup reader's fallbacks on a hybrid layout: v1 controller files first, then this
/// process's own /proc figures summed over `cgroup.procs`.
@Suite struct CgroupFallbackTests {
    func layout(_ files: [String: String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("drover-cgroup-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        for (path, contents) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func v1ControllerFilesComeFirst() throws {
        let root = try layout([
            "cpuacct/app.service/cpuacct.usage": "5000000\n", "memory/app.service/memory.usage_in_bytes": "4096\n",
            "systemd/app.service/cgroup.procs": "\(getpid())\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let usage = CgroupReader(root: nil, v1Root: root).usage(of: "/app.service")
        #expect(usage.cpuMicroseconds == 5000)
        #expect(usage.memoryBytes == 4096)
        #expect(usage.cpuPressure == nil)
    }

    @Test func withoutControllersProcessesAreSummed() throws {
        // Burn some CPU so this process has ticks to report.
        let start = ContinuousClock.now
        var x = 0.0
        while ContinuousClock.now - start < .milliseconds(50) { x += sin(x) + 1 }
        #expect(x > 0)
        let root = try layout(["systemd/app.service/cgroup.procs": "\(getpid())\n", "systemd/app.service/child/cgroup.procs": "\n"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let usage = CgroupReader(root: nil, v1Root: root).usage(of: "/app.service")
        #expect((usage.cpuMicroseconds ?? 0) > 0)
        #expect((usage.memoryBytes ?? 0) > 1 << 20)
        #expect(CgroupReader(root: nil, v1Root: root).usage(of: "/missing.service") == CgroupUsage())
    }

    @Test func aDeliveredWindowRemembersItsSpanAndMovesItsResumePointWhenFull() {
        var window = DeliveredWindow(span: 10, capacity: 3)
        #expect(window.resumePoint == nil, "nothing delivered: no point to go back to")
        window.record(realtime: 100, cursor: "a")
        window.record(realtime: 105, cursor: "b")
        #expect(window.resumePoint == 100, "not before the first line delivered: the follow started after it")
        #expect(window.contains("a") && window.contains("b"))
        // Older than the span: forgotten, and the resume point is after it.
        window.record(realtime: 112, cursor: "c")
        #expect(!window.contains("a") && window.contains("b") && window.contains("c"))
        #expect(window.resumePoint == 102)
        // Full: the oldest within the span goes, and the resume point moves past it.
        window.record(realtime: 113, cursor: "d")
        window.record(realtime: 114, cursor: "e")
        #expect(!window.contains("b") && window.contains("c") && window.contains("e"))
        #expect(window.resumePoint == 106, "nothing delivered at or after the resume point was forgotten")
    }
}
