import AsyncHTTPClient
import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// The fixture service under a real manager: the behaviours rollout and autoscaling tests
/// rely on, including two instances sharing one listening socket.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct FixtureServiceTests {
    func get(_ port: Int, _ path: String) async throws -> (Int, String) {
        let response = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)\(path)").get()
        return (Int(response.status.code), response.body.map { String(buffer: $0) } ?? "")
    }

    func unit(_ arguments: String, port: Int, extra: String = "") -> String {
        """
        [Service]
        Type=notify
        ExecStart=\(fixturePath) \(arguments)
        Environment=PORT=\(port) DROVER_VERSION=7 DROVER_INSTANCE=%i
        TimeoutStartSec=10
        \(extra)
        """
    }

    @Test func servesHealthBurnAndHold() async throws {
        let bed = try Bed.require()
        let port = try freeLoopbackPort(), name = uniqueService("fx") + ".service"
        try bed.manager.installUnit(name, contents: unit("", port: port))
        try await bed.systemd.reload()
        try await bed.systemd.startUnit(name)
        #expect(try await get(port, "/healthz") == (200, "ok\n"))
        #expect(try await get(port, "/").1.hasPrefix("drover-fixture version=7 instance="))
        #expect(try await get(port, "/burn?ms=50").1.hasPrefix("burned 50 ms"))
        #expect(try await get(port, "/hold?mb=8").1 == "holding 8 MB\n")
        try await bed.systemd.stopUnit(name)
    }

    @Test func turnsUnhealthyWhenTold() async throws {
        let bed = try Bed.require()
        let port = try freeLoopbackPort(), name = uniqueService("sick") + ".service"
        try bed.manager.installUnit(name, contents: unit("--unhealthy-after 0", port: port))
        try await bed.systemd.reload()
        try await bed.systemd.startUnit(name)
        #expect(try await get(port, "/healthz").0 == 503)
        try await bed.systemd.stopUnit(name)
    }

    @Test func neverReadyTimesOutItsStart() async throws {
        let bed = try Bed.require()
        let port = try freeLoopbackPort(), name = uniqueService("lazy") + ".service"
        try bed.manager.installUnit(name, contents: unit("--never-ready", port: port).replacingOccurrences(of: "TimeoutStartSec=10", with: "TimeoutStartSec=1"))
        try await bed.systemd.reload()
        let error = try await #require(throws: SystemdError.self) { try await bed.systemd.startUnit(name) }
        #expect(error.code == .jobFailed || error.code == .jobTimedOut)
        #expect(try await bed.systemd.status(of: name).result == "timeout")
    }

    @Test func exitsAfterAWhile() async throws {
        let bed = try Bed.require()
        let port = try freeLoopbackPort(), name = uniqueService("brief") + ".service"
        try bed.manager.installUnit(name, contents: unit("--exit-after 0.2", port: port))
        try await bed.systemd.reload()
        try await bed.systemd.startUnit(name)
        #expect(await waitUntil { (try? await bed.systemd.status(of: name))?.isFailed == true })
        #expect(try await bed.systemd.status(of: name).execMainStatus == 1)
    }

    @Test func instancesShareOneListeningSocket() async throws {
        let bed = try Bed.require()
        let port = try freeLoopbackPort(), base = uniqueService("shared")
        try bed.manager.installUnit("\(base).socket", contents: """
            [Socket]
            ListenStream=127.0.0.1:\(port)
            Service=\(base)-idle.service
            """)
        try bed.manager.installUnit("\(base)-idle.service", contents: "[Service]\nExecStart=/bin/true\n")
        try bed.manager.installUnit("\(base)@.service", contents: """
            [Service]
            Type=notify
            ExecStart=\(fixturePath)
            Sockets=\(base).socket
            Environment=DROVER_VERSION=7 DROVER_INSTANCE=%i
            """)
        try await bed.systemd.reload()
        try await bed.systemd.startUnit("\(base).socket")
        try await bed.systemd.startUnit("\(base)@1.service")
        try await bed.systemd.startUnit("\(base)@2.service")
        var instances = Set<String>()
        for _ in 0..<40 {
            let (status, text) = try await get(port, "/")
            #expect(status == 200)
            if let instance = text.split(separator: " ").first(where: { $0.hasPrefix("instance=") }) { instances.insert(String(instance)) }
            if instances.count == 2 { break }
        }
        #expect(instances == ["instance=1", "instance=2"], "both instances accept on the one socket")
        for unit in ["\(base)@1.service", "\(base)@2.service", "\(base).socket"] { try await bed.systemd.stopUnit(unit) }
    }

    @Test func theCgroupReaderSeesCPUAndMemoryMove() async throws {
        let bed = try Bed.require()
        let port = try freeLoopbackPort(), name = uniqueService("usage") + ".service"
        try bed.manager.installUnit(name, contents: unit("", port: port))
        try await bed.systemd.reload()
        try await bed.systemd.startUnit(name)
        let reader = CgroupReader.detect()
        let group = try #require(try await bed.systemd.status(of: name).controlGroup)

        let before = reader.usage(of: group)
        let cpuBefore = try #require(before.cpuMicroseconds, "cpu.stat is readable here")
        let memoryBefore = try #require(before.memoryBytes)
        #expect(try await get(port, "/burn?ms=300").0 == 200)
        #expect(try await get(port, "/hold?mb=64").0 == 200)
        let after = reader.usage(of: group)
        #expect(try #require(after.cpuMicroseconds) - cpuBefore >= 250_000, "300 ms of burning shows in cpu.stat")
        #expect(try #require(after.memoryBytes) - memoryBefore >= 60 << 20, "64 MB held shows in memory")
        #expect(after.cpuPressure != nil && after.memoryPressure != nil, "PSI files are read")
        #expect(reader.usage(of: "/no/such/group") == CgroupUsage(), "a missing cgroup reads as unknown, not zero")
        try await bed.systemd.stopUnit(name)
    }
}
