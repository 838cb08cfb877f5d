import DroverSystemd
import DroverTestbed
import Foundation
import Synchronization
import Testing

/// The sd-bus client against a real, throwaway systemd user manager.
@Suite(.userManager(), .timeLimit(.minutes(10)))
struct SystemdClientTests {
    @Test func startsAnInstalledUnitAndStopsIt() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("basic")
        try await bed.install(unit, fixtureUnit())

        try await bed.systemd.startUnit(unit)
        let running = try await bed.systemd.status(of: unit)
        #expect(running.activeState == "active")
        #expect(running.subState == "running")
        #expect(running.loadState == "loaded")
        let pid = try #require(running.mainPID)
        #expect(isProcessRunning(pid), "MainPID \(pid) should be a live process")
        #expect(running.controlGroup?.hasSuffix("/\(unit)") == true)
        #expect(running.invocationID?.count == 32)
        #expect(running.restartCount == 0)

        try await bed.systemd.stopUnit(unit)
        let stopped = try await bed.systemd.status(of: unit)
        #expect(stopped.activeState == "inactive")
        #expect(stopped.mainPID == nil)
        #expect(await waitUntil { !isProcessRunning(pid) }, "the fixture process should be gone after stop")
    }

    @Test func restartGivesANewProcessAndInvocation() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("restart")
        try await bed.install(unit, fixtureUnit())
        try await bed.systemd.startUnit(unit)
        let before = try await bed.systemd.status(of: unit)

        try await bed.systemd.restartUnit(unit)
        let after = try await bed.systemd.status(of: unit)
        #expect(after.isActive)
        #expect(after.mainPID != nil && after.mainPID != before.mainPID)
        #expect(after.invocationID != before.invocationID)
        try await bed.systemd.stopUnit(unit)
    }

    @Test func startsTwentyTemplateInstancesConcurrently() async throws {
        let bed = try Testbed.require()
        let template = uniqueUnitName("many", template: true)
        let prefix = template.replacingOccurrences(of: "@.service", with: "@")
        try await bed.install(template, fixtureUnit(arguments: "--print instance-%i"))
        let instances = (1...20).map { "\(prefix)\($0).service" }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for instance in instances { group.addTask { try await bed.systemd.startUnit(instance) } }
            try await group.waitForAll()
        }

        let listed = try await bed.systemd.listUnits(matching: ["\(prefix)*.service"])
        #expect(Set(listed.map(\.name)) == Set(instances))
        #expect(listed.allSatisfy { $0.activeState == "active" })
        let pids = try await withThrowingTaskGroup(of: Int32?.self) { group in
            for instance in instances { group.addTask { try await bed.systemd.status(of: instance).mainPID } }
            return try await group.reduce(into: Set<Int32>()) { if let pid = $1 { $0.insert(pid) } }
        }
        #expect(pids.count == 20, "each instance runs its own process")

        try await withThrowingTaskGroup(of: Void.self) { group in
            for instance in instances { group.addTask { try await bed.systemd.stopUnit(instance) } }
            try await group.waitForAll()
        }
        let afterStop = try await bed.systemd.listUnits(matching: ["\(prefix)*.service"], states: ["active", "activating"])
        #expect(afterStop.isEmpty)
    }

    @Test func unitWhoseProcessExitsReportsFailedWithItsStatus() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("exits")
        try await bed.install(unit, fixtureUnit(type: "simple", arguments: "--exit-code 3"))

        // Type=simple: the start job is done once forked; the failure follows.
        try await bed.systemd.startUnit(unit)
        let failed = await waitUntil { (try? await bed.systemd.status(of: unit).isFailed) == true }
        #expect(failed, "the unit should end up failed")
        let status = try await bed.systemd.status(of: unit)
        #expect(status.result == "exit-code")
        #expect(status.execMainCode == .exited)
        #expect(status.execMainStatus == 3)
    }

    @Test func notifyUnitThatExitsBeforeReadyFailsItsStartJob() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("notready")
        try await bed.install(unit, fixtureUnit(type: "notify", arguments: "--exit-code 1"))

        let error = try await #require(throws: SystemdError.self) { try await bed.systemd.startUnit(unit) }
        #expect(error.code == .jobFailed)
        #expect(error.unit == unit)
        #expect(error.message.contains(unit))
        let status = try await bed.systemd.status(of: unit)
        #expect(status.isFailed)
        #expect(status.execMainStatus == 1)
    }

    @Test func unknownUnitGivesNoSuchUnit() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("missing")

        let start = try await #require(throws: SystemdError.self) { try await bed.systemd.startUnit(unit) }
        #expect(start.code == .noSuchUnit)
        #expect(start.message.contains(unit))
        #expect(start.busErrorName == "org.freedesktop.systemd1.NoSuchUnit")

        let status = try await #require(throws: SystemdError.self) { try await bed.systemd.status(of: unit) }
        #expect(status.code == .noSuchUnit)
        #expect(status.unit == unit)
    }

    @Test func notifyUnitIsActiveOnlyAfterItSaysReady() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("ready")
        let gate = bed.manager.root + "/\(unit).gate"
        // Its start may take long on a loaded machine: the test, not systemd, decides when it is ready.
        try await bed.install(unit, fixtureUnit(type: "notify", arguments: "--ready-when-exists \(gate)", extra: "TimeoutStartSec=120"))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await bed.systemd.startUnit(unit) }

            // Running, but not ready: systemd must keep it "activating".
            let waiting = await waitUntil(timeout: .seconds(60)) {
                (try? await bed.systemd.status(of: unit))?.statusText == "waiting for \(gate)"
            }
            #expect(waiting, "the fixture should report its STATUS= while it waits")
            let before = try await bed.systemd.status(of: unit)
            #expect(before.activeState == "activating")
            #expect(before.subState == "start")
            #expect(before.mainPID != nil)

            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            try await group.waitForAll()
        }
        let after = try await bed.systemd.status(of: unit)
        #expect(after.activeState == "active")
        #expect(after.statusText == "serving")
        try await bed.systemd.stopUnit(unit)
    }

    @Test func aUnitWhoseStartJobWaitsIsListedAsInUse() async throws {
        let bed = try Testbed.require()
        let first = uniqueUnitName("first"), second = uniqueUnitName("second")
        let gate = bed.manager.root + "/\(first).gate"
        try await bed.install(first, fixtureUnit(type: "notify", arguments: "--ready-when-exists \(gate)"))
        // Ordered after `first`: its start job waits, the unit still inactive, until `first` is ready.
        try await bed.install(second, fixtureUnit(type: "notify", extra: "") + "\n[Unit]\nAfter=\(first)\n")

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await bed.systemd.startUnit(first) }
            #expect(await waitUntil { (try? await bed.systemd.status(of: first))?.activeState == "activating" })
            group.addTask { try await bed.systemd.startUnit(second) }
            var row: UnitListEntry?
            #expect(await waitUntil {
                row = try? await bed.systemd.listUnits(matching: [second]).first
                return (row?.jobID ?? 0) != 0
            })
            #expect(row?.activeState == "inactive" && row?.isInUse == true, "\(String(describing: row))")
            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            try await group.waitForAll()
        }
        #expect(try await bed.systemd.listUnits(matching: [second]).first?.jobID == 0)
        try await bed.systemd.stopUnit(second)
        try await bed.systemd.stopUnit(first)
    }

    @Test func watchdogKeepsAFedUnitAliveAndKillsAStarvedOne() async throws {
        let bed = try Testbed.require()
        let fed = uniqueUnitName("fed"), starved = uniqueUnitName("starved"), wedged = uniqueUnitName("wedged")
        try await bed.install(fed, fixtureUnit(extra: "WatchdogSec=1"))
        try await bed.install(starved, fixtureUnit(arguments: "--no-watchdog", extra: "WatchdogSec=1"))
        try await bed.install(wedged, fixtureUnit(arguments: "--watchdog-check-fails", extra: "WatchdogSec=1"))
        try await bed.systemd.startUnit(fed)
        let fedPID = try await bed.systemd.status(of: fed).mainPID
        try await bed.systemd.startUnit(starved)
        try await bed.systemd.startUnit(wedged)
        try await bed.systemd.ping()

        // Once the starved one is killed, more than WatchdogSec has passed for the fed one too.
        let killed = await waitUntil(timeout: .seconds(10)) {
            (try? await bed.systemd.status(of: starved))?.result == "watchdog"
        }
        #expect(killed, "systemd should kill a unit that never sends WATCHDOG=1")
        let wedgedKilled = await waitUntil(timeout: .seconds(10)) {
            (try? await bed.systemd.status(of: wedged))?.result == "watchdog"
        }
        #expect(wedgedKilled, "a unit whose health check fails stops feeding the watchdog")
        let status = try await bed.systemd.status(of: fed)
        #expect(status.isActive)
        #expect(status.mainPID == fedPID)
        #expect(status.result == "success")
        try await bed.systemd.stopUnit(fed)
    }

    @Test func setPropertiesChangesLimitsWithoutRestarting() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("limits")
        try await bed.install(unit, fixtureUnit())
        try await bed.systemd.startUnit(unit)
        let before = try await bed.systemd.status(of: unit)
        #expect(before.memoryMax == nil, "no limit before")

        try await bed.systemd.setProperties(of: unit, [.memoryMax(bytes: 64 << 20), .cpuQuota(percent: 50)])
        let after = try await bed.systemd.status(of: unit)
        #expect(after.memoryMax == 64 << 20)
        #expect(after.cpuQuotaPerSecondMicroseconds == 500_000)
        #expect(after.isActive)
        #expect(after.mainPID == before.mainPID)
        #expect(after.invocationID == before.invocationID)

        try await bed.systemd.setProperties(of: unit, [.memoryMax(bytes: nil)])
        #expect(try await bed.systemd.status(of: unit).memoryMax == nil)
        try await bed.systemd.stopUnit(unit)
    }

    @Test func setPropertiesRejectsAnUnknownUnit() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("nolimits")
        let error = try await #require(throws: SystemdError.self) {
            try await bed.systemd.setProperties(of: unit, [.memoryMax(bytes: 1 << 20)])
        }
        #expect(error.code == .noSuchUnit)
        #expect(error.message.contains(unit))
    }

    @Test func listsUnitFilesOnDisk() async throws {
        let bed = try Testbed.require()
        let template = uniqueUnitName("file", template: true)
        try await bed.install(template, fixtureUnit())
        let files = try await bed.systemd.listUnitFiles(matching: [template])
        #expect(files.map(\.path) == [bed.manager.unitDirectory + "/" + template])
    }

    @Test func journalLinesOfAUnitAreReadBack() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("logs")
        let journal = JournalReader(source: .directory(try #require(bed.manager.journalDirectory)))
        try await bed.install(unit, fixtureUnit(
            type: "simple", arguments: "--print first-line --print second-line --print 'third line' --exit-code 0",
            extra: "SyslogIdentifier=\(unit)"
        ))
        try await bed.systemd.startUnit(unit)

        var messages: [String] = []
        let found = await waitUntil {
            messages = ((try? journal.entries(of: unit, last: 50)) ?? []).map(\.message)
            return messages.contains("third line")
        }
        #expect(found, "the unit's output should reach the journal; got \(messages)")
        let lines = messages.filter { ["first-line", "second-line", "third line"].contains($0) }
        #expect(lines == ["first-line", "second-line", "third line"])

        let entries = try journal.entries(of: unit, last: 2)
        #expect(entries.count == 2, "last N returns exactly N")
        let entry = try #require(try journal.entries(of: unit, last: 50).first { $0.message == "first-line" })
        #expect(entry.unit == unit)
        #expect(entry.priority == 6)
        #expect(entry.pid != nil)
        #expect(abs(entry.time.timeIntervalSinceNow) < 60)
    }

    @Test func journalFollowDeliversNewLinesAsTheyAreWritten() async throws {
        let bed = try Testbed.require()
        let unit = uniqueUnitName("follow")
        let journal = JournalReader(source: .directory(try #require(bed.manager.journalDirectory)))
        func run(printing line: String) async throws {
            try await bed.install(unit, fixtureUnit(
                type: "simple", arguments: "--print \(line) --exit-code 0", extra: "SyslogIdentifier=\(unit)"
            ))
            try await bed.systemd.startUnit(unit)
        }

        try await run(printing: "old-line")
        #expect(await waitUntil { (try? journal.entries(of: unit, last: 50))?.contains { $0.message == "old-line" } == true })

        var received: [String] = []
        for try await entry in journal.follow(unit, last: 50) {
            guard ["old-line", "new-line"].contains(entry.message) else { continue }
            received.append(entry.message)
            // The past has been replayed, so the follow is positioned: now write something new.
            if entry.message == "old-line" { try await run(printing: "new-line") }
            if entry.message == "new-line" { break }
        }
        #expect(received == ["old-line", "new-line"])
    }

    /// A unit added to a running follow late (as the agent's follows learn of a new instance
    /// from systemd's signals, after it started) has the lines it wrote before then: they
    /// come, in the journal's order, before the last line the follow had delivered. The
    /// other unit's lines go on with none skipped or repeated.
    @Test func aUnitAddedToAFollowLateHasTheLinesItWroteBefore() async throws {
        let bed = try Testbed.require()
        let chatty = uniqueUnitName("chatty"), late = uniqueUnitName("late")
        let journal = JournalReader(source: .directory(try #require(bed.manager.journalDirectory)))
        try await bed.install(chatty, """
            [Service]
            ExecStart=/bin/sh -c 'i=0; while :; do i=$$((i+1)); echo chatty-$$i; sleep 0.05; done'
            SyslogIdentifier=\(chatty)
            """)
        try await bed.systemd.startUnit(chatty)
        let follow = journal.follow(anyOf: [chatty], last: 0)
        let received = Mutex<[JournalEntry]>([])
        let reader = Task { for try await entry in follow.entries { received.withLock { $0.append(entry) } } }
        #expect(await waitUntil { received.withLock { $0.contains { $0.unit == chatty } } }, "the follow is under way")

        try await bed.install(late, fixtureUnit(type: "simple", arguments: "--print late-first --exit-code 0", extra: "SyslogIdentifier=\(late)"))
        try await bed.systemd.startUnit(late)
        var written: JournalEntry?
        #expect(await waitUntil {
            written = (try? journal.entries(of: late, last: 10))?.first { $0.message == "late-first" }
            return written != nil
        })
        let lateLine = try #require(written)
        #expect(await waitUntil { received.withLock { $0.contains { $0.unit == chatty && $0.time > lateLine.time } } },
                "the follow has read past the late unit's line")
        follow.follow([late])
        #expect(await waitUntil { received.withLock { $0.contains { $0.cursor == lateLine.cursor } } }, "the late unit's earlier line arrives")
        let beforeStop = received.withLock { $0.count }
        #expect(await waitUntil { received.withLock { $0.count } > beforeStop + 5 }, "the chatty unit's lines go on")
        reader.cancel()
        try await bed.systemd.stopUnit(chatty)

        let entries = received.withLock { $0 }
        #expect(Set(entries.map(\.cursor)).count == entries.count, "no line twice")
        let numbers = entries.filter { $0.unit == chatty }.compactMap { Int($0.message.dropFirst("chatty-".count)) }
        #expect(numbers == Array((numbers.first ?? 0)..<((numbers.first ?? 0) + numbers.count)), "none of the chatty unit's lines skipped: \(numbers)")
        #expect(entries.filter { $0.message == "late-first" }.count == 1)
    }

    @Test func closedClientRefusesFurtherCalls() async throws {
        let bed = try Testbed.require()
        let client = try await SystemdClient.connect(to: bed.manager.busAddress)
        _ = try await client.listUnits(matching: ["*.target"])
        await client.close()
        let error = try await #require(throws: SystemdError.self) { try await client.listUnits(matching: []) }
        #expect(error.code == .disconnected)
    }

    @Test func connectsThroughTheSessionBusToo() async throws {
        let bed = try Testbed.require()
        let client = try await SystemdClient.connect(to: bed.manager.sessionBusAddress)
        let unit = uniqueUnitName("viabus")
        try await bed.install(unit, fixtureUnit())
        try await client.startUnit(unit)
        #expect(try await client.status(of: unit).isActive)
        try await client.stopUnit(unit)
        #expect(try await client.status(of: unit).activeState == "inactive")
        await client.close()
    }

    @Test func connectingWhereNoManagerListensSaysSo() async throws {
        let bed = try Testbed.require()
        let nowhere = BusAddress.systemdPrivate(runtimeDirectory: bed.manager.root + "/nowhere")
        let error = try await #require(throws: SystemdError.self) { try await SystemdClient.connect(to: nowhere) }
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains("nowhere"))
    }
}
