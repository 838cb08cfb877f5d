import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// Failures seen from outside, on booted hosts: hosts cut off the network both ways an
/// operator meets it, and a crash loop behind a shared socket.
extension BootedHostTests {
    /// `drover` with a 3 s connect timeout, and how long it took.
    static func timed(_ fleet: BootedFleet, _ arguments: String...) async throws -> (run: Fleet.Run, took: Duration) {
        let clock = ContinuousClock(), started = clock.now
        let run = try await Fleet.Run.drover(in: fleet.repository, ["--connect-timeout", "3"] + arguments)
        return (run, clock.now - started)
    }

    @Test func hostsCutOffEitherWayAreReportedUnreachableWithinTheConnectTimeout() async throws {
        try await BootedFleet.run(hosts: 3) { fleet in
            let (h2, h3) = (fleet.hosts[1], fleet.hosts[2])
            try fleet.writeManifest("web", Self.manifest(["--print", "v1"]))
            #expect(try await fleet.drover("deploy", "web").status == 0)

            // h2: its link gone on this machine's side (no route); h3: silent, its packets
            // dropped on its own side (a firewall, a dead link over there).
            try await h2.disconnect()
            try await h3.dropPackets()
            let expected = ["h2": "no route to host \(h2.address)", "h3": "no answer from \(h3.address):7070 within 3 s"]

            let (status, statusTook) = try await Self.timed(fleet, "status", "--json")
            #expect(status.status == 3, "\(status)")
            let byHost = Dictionary(uniqueKeysWithValues: try status.json([CLIOutput.HostStatus].self).map { ($0.host, $0) })
            #expect(byHost["h1"]?.value?.first?.name.rawValue == "web", "the reachable host's row is there: \(status)")
            for (host, message) in expected {
                #expect(byHost[host]?.reachable == false && byHost[host]?.failure == "unreachable", "\(host): \(status)")
                #expect(byHost[host]?.error?.contains(message) == true, "\(host) says what happened: \(status)")
            }
            #expect(statusTook < .seconds(8), "bounded by the connect timeout, not --timeout: \(statusTook)")

            let (table, _) = try await Self.timed(fleet, "status", "web")
            #expect(table.status == 3, "\(table)")
            for (host, message) in expected {
                #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix(host) && $0.contains("unreachable") }, "\(table)")
                #expect(table.stderr.contains("\(host): unreachable: \(message)"), "\(table)")
            }
            #expect(!table.stderr.contains("errno") && !table.stderr.contains("error set"), "no raw NIO text: \(table)")

            let (scale, scaleTook) = try await Self.timed(fleet, "scale", "web", "3")
            #expect(scale.status == 3, "\(scale)")
            #expect(scale.stdout.split(separator: "\n").contains { $0.hasPrefix("h1") && !$0.contains("unreachable") }, "\(scale)")
            #expect(["h2", "h3"].allSatisfy { host in scale.stdout.split(separator: "\n").contains { $0.hasPrefix(host) && $0.contains("unreachable") } }, "\(scale)")
            #expect(scaleTook < .seconds(8), "\(scaleTook)")

            // A deploy uploads everywhere first: the unreachable hosts stop it before any host changes.
            try fleet.writeManifest("web", Self.manifest(["--print", "v2"]))
            let (deploy, deployTook) = try await Self.timed(fleet, "deploy", "web")
            #expect(deploy.status == 3, "\(deploy)")
            let rows = deploy.stdout.split(separator: "\n")
            #expect(rows.contains { $0.hasPrefix("h2") && $0.contains("unreachable") } && rows.contains { $0.hasPrefix("h3") && $0.contains("unreachable") }, "\(deploy)")
            #expect(rows.contains { $0.hasPrefix("h1") && $0.contains("not started") }, "\(deploy)")
            #expect(deployTook < .seconds(15), "\(deployTook)")

            print("hosts cut off (connect timeout 3 s): status \(statusTook), scale \(scaleTook), deploy \(deployTook)")
            try await h2.reconnect()
            try await h3.stopDroppingPackets()
            let back = try await fleet.drover("status", "web")
            #expect(back.status == 0, "every host answers again: \(back)")
        }
    }

    @Test func aListenServiceCrashedPastItsStartLimitKeepsItsSocketHealsAndStaysDeployable() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            let fragile = "\n[restart]\ndelay = \"0s\"\nburst = 2\ninterval = \"60s\"\n"
            try fleet.writeManifest("web", Self.manifest(["--print", "v1"]) + fragile)
            #expect(try await fleet.drover("deploy", "web").status == 0)
            // Under the default sandbox the system-call filter no longer refuses the Swift
            // runtime's setpriority (errno=1, EPERM, three or four lines an instance); what is
            // left is the kernel refusing a raise in priority (errno=13, EACCES), once an instance.
            let logs = try await fleet.drover("logs", "web", "-n", "200")
            #expect(logs.status == 0 && logs.stdout.contains("| v1"), "\(logs)")
            let priority = logs.stdout.split(separator: "\n").filter { $0.contains("Failed to set thread priority") }
            #expect(!priority.contains { $0.hasSuffix("errno=1") }, "the filter lets setpriority through: \(logs.stdout)")
            #expect(priority.count <= 2, "at most one line for each of the 2 instances: \(priority)")
            let client = try TrafficClient.start(host: host.address, port: 8080, work: fleet.repository + "/client")
            #expect(await waitUntil(timeout: .seconds(10)) { !client.progress().isEmpty }, "the client is served")

            // Slot 2 killed until the agent stops it at its start limit.
            let victim = try #require(try await fleet.service("web", on: host).instances.first { $0.slot == 2 }?.unit)
            var stopped = false
            var kills = 0
            for _ in 0..<10 {
                let state = try await host.runChecked(["systemctl", "show", "-p", "ActiveState", "--value", victim]).trimmingCharacters(in: .whitespacesAndNewlines)
                if state == "inactive" || state == "failed" {
                    stopped = true
                    break
                }
                let pid = try await BootedFleet.mainPID(of: victim, on: host)
                if state == "active", pid != 0 {
                    _ = try await host.run(["kill", "-9", "\(pid)"])
                    kills += 1
                    _ = await waitUntil(timeout: .seconds(5)) { ((try? await BootedFleet.mainPID(of: victim, on: host)) ?? pid) != pid }
                }
                _ = await waitUntil(timeout: .seconds(5)) {
                    let now = (try? await host.runChecked(["systemctl", "show", "-p", "ActiveState", "--value", victim])) ?? ""
                    return now.hasPrefix("active") || now.hasPrefix("inactive") || now.hasPrefix("failed")
                }
            }
            #expect(stopped, "the agent stopped \(victim) at its start limit")
            #expect(try await host.runChecked(["systemctl", "is-active", "drover-web.socket"]) == "active\n", "the shared socket still listens")
            let healed = await waitUntil(timeout: .seconds(20), interval: .milliseconds(200)) {
                await Self.settled(fleet, host, instances: 2) != nil
            }
            #expect(healed, "both instances active again after the back-off")

            #expect(try await fleet.drover("scale", "web", "3").status == 0)
            try fleet.writeManifest("web", Self.manifest(["--print", "v2"]) + fragile)
            let deployed = try await fleet.drover("deploy", "web")
            #expect(deployed.status == 0, "\(deployed)")
            #expect(await waitUntil(timeout: .seconds(10)) { client.progress().count == 2 }, "the client reaches the new release")
            let result = try await client.finish()
            // A SIGKILLed instance drops the one request it had in hand (the client asks one at a
            // time); a socket that stopped listening would refuse connections.
            #expect(result.refused == 0 && result.failed <= kills, "no connection refused through the socket, at most one reset per kill: \(result.errors)")
            #expect(result.ok > 50 && result.versions.count == 2, "\(result.ok) answers from \(result.versions)")
        }
    }
}
