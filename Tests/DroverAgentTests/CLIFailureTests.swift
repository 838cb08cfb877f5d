import DroverAPI
import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// How the real `drover` meets failures as an operator does: a stopped agent, a wrong token,
/// Ctrl-C in the middle of a fleet deploy, and an agent restarted under `logs -f`.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct CLIFailureTests {
    static func manifest(_ print: String, minHealthy: String = "0.2s") -> String {
        """
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = 2
        arguments = ["--print", "\(print)"]

        [rollout]
        min_healthy = "\(minHealthy)"
        deadline = "30s"
        """
    }

    @Test func aStoppedAgentAWrongTokenAndAnAgentErrorAreToldApartQuickly() async throws {
        try await Fleet.run(hosts: 3) { fleet in
            try fleet.writeManifest("web", Self.manifest("hello"))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            // host-2's agent is stopped; host-3 is given a wrong token.
            await fleet.agents[1].stop()
            let wrong = fleet.repository + "/deploy/wrong-token"
            try "not-the-token\n".write(toFile: wrong, atomically: true, encoding: .utf8)
            let inventory = fleet.repository + "/deploy/hosts.toml"
            let text = try String(contentsOfFile: inventory, encoding: .utf8)
            try text.replacingOccurrences(of: "tokens/host-3", with: wrong).write(toFile: inventory, atomically: true, encoding: .utf8)

            let clock = ContinuousClock(), started = clock.now
            let json = try await fleet.drover("status", "--json")
            let took = clock.now - started
            #expect(json.status == 3, "a host was unreachable: \(json)")
            // Well under the 30 s request timeout, with the margin a loaded 2-core CI machine needs.
            #expect(took < .seconds(12), "a refused connection is reported at once, not after the request timeout: \(took)")
            let byHost = Dictionary(uniqueKeysWithValues: try json.json([CLIOutput.HostStatus].self).map { ($0.host, $0) })
            #expect(byHost["host-1"]?.value?.first?.name.rawValue == "web" && byHost["host-1"]?.failure == nil, "\(json)")
            #expect(byHost["host-2"]?.reachable == false && byHost["host-2"]?.failure == "unreachable"
                    && byHost["host-2"]?.error?.contains("connection refused") == true, "\(json)")
            #expect(byHost["host-3"]?.reachable == true && byHost["host-3"]?.failure == "denied"
                    && byHost["host-3"]?.error?.isEmpty == false, "the agent answered: it refused the token \(json)")

            let table = try await fleet.drover("status", "web")
            #expect(table.status == 3, "\(table)")
            let rows = table.stdout.split(separator: "\n")
            #expect(rows.contains { $0.hasPrefix("host-2") && $0.contains("unreachable") }, "\(table)")
            #expect(rows.contains { $0.hasPrefix("host-3") && $0.contains("denied") && !$0.contains("unreachable") }, "\(table)")
            #expect(table.stderr.contains("host-2: unreachable: connection refused") && table.stderr.contains("host-3: denied: "), "\(table)")
            #expect(!table.stderr.contains("errno") && !table.stderr.contains("error set"), "no raw NIO text: \(table)")

            // Only the wrong token: refused by the agent is not "unreachable" (exit 1, not 3).
            try await fleet.agents[1].restart()
            let denied = try await fleet.drover("scale", "web", "3")
            #expect(denied.status == 1, "\(denied)")
            #expect(denied.stdout.split(separator: "\n").contains { $0.hasPrefix("host-3") && $0.contains("denied") }, "\(denied)")
        }
    }

    @Test func ctrlCInTheMiddleOfAFleetDeployStopsBeforeTheNextHostAndSaysWhereEachStands() async throws {
        try await Fleet.run(hosts: 3) { fleet in
            try fleet.writeManifest("web", Self.manifest("v1"))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let v1 = try await fleet.agents[0].request(.GET, "/v1/services/web").decode(ServiceInfo.self).currentVersion
            // Each new instance must stay healthy 3 s: host-1 is still rolling when Ctrl-C comes.
            try fleet.writeManifest("web", Self.manifest("v2", minHealthy: "3s"))
            let (cli, output) = try fleet.startDrover("deploy", "web", "--batch", "1", "--json")
            let rolling = await waitUntil(timeout: .seconds(30), interval: .milliseconds(20)) {
                let events = (try? await fleet.agents[0].request(.GET, "/v1/events?service=web").decode([EventInfo].self)) ?? []
                return events.filter { $0.kind == "deployment.started" }.count >= 2
            }
            #expect(rolling, "host-1 rolls v2")
            kill(cli.pid, SIGINT)
            let status = await cli.wait()
            let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            #expect(status == 130, "exit 130: \(printed)")
            #expect(printed.contains("interrupted: no further host is started") && printed.contains("host-1 goes on rolling on its agent"), "\(printed)")
            let json = printed.split(separator: "\n").drop { !$0.hasPrefix("{") }.joined(separator: "\n")
            let summary = try JSONDecoder().decode(CLIOutput.DeploySummary.self, from: Data(json.utf8))
            let byHost = Dictionary(uniqueKeysWithValues: summary.hosts.map { ($0.host, $0) })
            #expect(byHost["host-1"]?.result == "in progress" && byHost["host-1"]?.reason?.contains("goes on on its agent") == true, "\(printed)")
            #expect(byHost["host-2"]?.result == "interrupted" && byHost["host-3"]?.result == "interrupted", "\(printed)")

            // host-1 finishes on its own; the others were never touched.
            let v2 = byHost["host-1"]?.toVersion
            let finished = await waitUntil(timeout: .seconds(30), interval: .milliseconds(100)) {
                let info = try? await fleet.agents[0].request(.GET, "/v1/services/web").decode(ServiceInfo.self)
                return info?.currentVersion?.rawValue == v2 && info?.instances.count == 2
            }
            #expect(finished, "host-1's agent completed the rollout")
            for agent in fleet.agents.dropFirst() {
                #expect(try await agent.request(.GET, "/v1/services/web").decode(ServiceInfo.self).currentVersion == v1)
            }
        }
    }

    @Test func logsFollowGoesOnAcrossAnAgentRestartAndACrashMissingNoLine() async throws {
        try await Fleet.run(hosts: 1) { fleet in
            try fleet.writeManifest("web", Self.manifest("hello-before"))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let agent = fleet.agents[0]
            let (follower, followed) = try fleet.startDrover("logs", "web", "-f", "-n", "5")
            let read = { (try? String(contentsOfFile: followed, encoding: .utf8)) ?? "" }
            #expect(await waitUntil(timeout: .seconds(15)) { read().contains("| hello-before") }, "the follow runs: \(read())")

            // The agent goes down twice, stopped (an upgrade) then killed (a crash); each time
            // an instance restarts meanwhile and prints its line.
            let systemd = try await SystemdClient.connect(to: agent.manager.busAddress)
            for (round, crash) in [false, true].enumerated() {
                let instance = try #require(try await agent.request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self).first)
                let pid = try #require(instance.mainPID)
                if crash { await agent.crash() } else { await agent.stop() }
                kill(pid, SIGKILL)
                let restarted = await waitUntil(timeout: .seconds(15)) {
                    guard let status = try? await systemd.status(of: instance.unit) else { return false }
                    return status.isActive && status.mainPID != pid
                }
                #expect(restarted, "systemd restarted the instance while the agent was down")
                let before = read().components(separatedBy: "| hello-before").count - 1
                try await agent.restart()

                let resumed = await waitUntil(timeout: .seconds(30)) {
                    read().components(separatedBy: "the agent is back; following on from the last line shown").count - 1 == round + 1
                        && read().components(separatedBy: "| hello-before").count - 1 > before
                }
                #expect(resumed, "after the \(crash ? "crash" : "stop") the follow says the agent came back and shows the line written meanwhile: \(read())")
            }
            await systemd.close()
            #expect(read().contains("the agent ended the follow"), "\(read())")
            #expect(follower.isRunning, "still following")
            kill(follower.pid, SIGTERM)
            _ = await follower.wait()
        }
    }
}
