import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// The real `drover` binary against three agents, each with its own systemd manager: the
/// daily loop an operator runs, and what happens when one host fails or goes away.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct CLIEndToEndTests {
    func manifest(_ fleet: Fleet, arguments: [String], deadline: String = "10s") -> String {
        """
        # The test fixture as a service.
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = 2
        arguments = [\(arguments.map { "\"\($0)\"" }.joined(separator: ", "))]

        [health]
        path = "/healthz"

        [rollout]
        min_healthy = "0.2s"
        deadline = "\(deadline)"
        """
    }

    /// `status --json`, by host: (version, ready instances of it, desired).
    func status(_ fleet: Fleet) async throws -> [String: (String?, Int, Int)] {
        let run = try await fleet.drover("status", "web", "--json")
        #expect(run.status == 0, "\(run)")
        var result: [String: (String?, Int, Int)] = [:]
        for host in try run.json([CLIOutput.HostStatus].self) {
            guard let service = host.value?.first else { continue }
            let ready = service.instances.filter { $0.version == service.currentVersion && $0.activeState == "active" }.count
            result[host.host] = (service.currentVersion?.rawValue, ready, service.desiredInstances)
        }
        return result
    }

    @Test func theDailyLoopAcrossThreeHosts() async throws {
        try await Fleet.run(hosts: 3) { fleet in
            try fleet.writeManifest("web", manifest(fleet, arguments: ["--print", "hello-v1"]))
            let validated = try await fleet.drover("validate")
            #expect(validated.status == 0 && validated.stdout.contains("web"), "\(validated)")

            // v1 everywhere.
            let first = try await fleet.drover("deploy", "web", "--json")
            #expect(first.status == 0, "\(first)")
            let v1 = try #require(try first.json(CLIOutput.DeploySummary.self).version)
            #expect(try await status(fleet).values.allSatisfy { $0.0 == v1 && $0.1 == 2 && $0.2 == 2 })
            let again = try await fleet.drover("deploy", "web", "--json")
            let againHosts = try again.json(CLIOutput.DeploySummary.self).hosts
            #expect(again.status == 0 && againHosts.allSatisfy { $0.result == "up to date" }, "the same content again changes nothing: \(again)")

            // v2, one host at a time, in inventory order.
            try fleet.writeManifest("web", manifest(fleet, arguments: ["--print", "hello-v2"]))
            let second = try await fleet.drover("deploy", "web", "--batch", "1")
            #expect(second.status == 0, "\(second)")
            let order = ["host-1", "host-2", "host-3"].map { second.stderr.range(of: "→ \($0)")?.lowerBound }
            #expect(order.allSatisfy { $0 != nil } && order == order.sorted { $0! < $1! }, "batches of one host, in order: \(second.stderr)")
            let v2 = try #require(try await status(fleet)["host-1"]?.0)
            #expect(v2 != v1)
            #expect(try await status(fleet).values.allSatisfy { $0.0 == v2 && $0.1 == 2 })

            // v3 cannot become ready on host-2 only (its instances wait for a file that exists
            // for the other hosts' ports): drover stops there and puts host-1 back.
            for agent in [fleet.agents[0], fleet.agents[2]] {
                for port in agent.portRange { _ = FileManager.default.createFile(atPath: fleet.repository + "/ready-\(port)", contents: nil) }
            }
            let host3Before = try await fleet.agents[2].request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self)
            try fleet.writeManifest("web", manifest(fleet, arguments: ["--print", "hello-v3", "--ready-when-exists", fleet.repository + "/ready-${PORT}"],
                                                    deadline: "3s"))
            let third = try await fleet.drover("deploy", "web", "--batch", "1", "--json")
            #expect(third.status == 1, "\(third)")
            let summary = try third.json(CLIOutput.DeploySummary.self)
            let byHost = Dictionary(uniqueKeysWithValues: summary.hosts.map { ($0.host, $0) })
            #expect(byHost["host-1"]?.result == "reverted", "\(third)")
            #expect(byHost["host-2"]?.result == "failed" && byHost["host-2"]?.reason?.contains("host") == false
                    && byHost["host-2"]?.reason?.contains("not healthy") == true, "host-2's reason is the agent's: \(third)")
            #expect(byHost["host-3"]?.result == "not started", "\(third)")
            let afterFailure = try await status(fleet)
            #expect(afterFailure.values.allSatisfy { $0.0 == v2 && $0.1 == 2 }, "every host back on v2: \(afterFailure)")
            let host3After = try await fleet.agents[2].request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self)
            #expect(host3After.map(\.mainPID) == host3Before.map(\.mainPID), "host-3 was never rolled")
            let human = try await fleet.drover("deploy", "web")
            #expect(human.status == 1 && human.stdout.contains("host-2") && human.stdout.contains("failed"), "the table names host-2: \(human)")

            // Roll back everywhere: to the release before the current one, v1.
            let rolledBack = try await fleet.drover("rollback", "web")
            #expect(rolledBack.status == 0, "\(rolledBack)")
            #expect(try await status(fleet).values.allSatisfy { $0.0 == v1 && $0.1 == 2 })

            // Scale and autoscale.
            let scaled = try await fleet.drover("scale", "web", "3")
            #expect(scaled.status == 0, "\(scaled)")
            #expect(try await status(fleet).values.allSatisfy { $0.1 == 3 && $0.2 == 3 })
            let autoscaled = try await fleet.drover("autoscale", "web", "--min", "1", "--max", "4", "--cpu", "50%")
            #expect(autoscaled.status == 0, "\(autoscaled)")
            let withPolicy = try await fleet.drover("status", "web", "--json")
            #expect(try withPolicy.json([CLIOutput.HostStatus].self).allSatisfy { $0.value?.first?.autoscale?.max == 4 && $0.value?.first?.autoscale?.cpu == 0.5 })
            #expect(try await fleet.drover("autoscale", "web", "--off").status == 0)

            // Logs of every host, merged and prefixed.
            let logs = try await fleet.drover("logs", "web", "-n", "50")
            #expect(logs.status == 0, "\(logs)")
            for host in ["host-1", "host-2", "host-3"] {
                #expect(logs.stdout.split(separator: "\n").contains { $0.hasPrefix(host) && $0.contains("hello-v1") }, "\(host) in \(logs.stdout)")
            }
            // Following: lines from every host as they are written, until the operator stops it.
            // Each host's last line shows first: then the follow is on, and what comes next is live.
            let (follower, followed) = try fleet.startDrover("logs", "web", "-f", "-n", "1")
            let hosts = ["host-1", "host-2", "host-3"]
            let counts = { (text: String) -> [String: Int] in
                let lines = ((try? String(contentsOfFile: followed, encoding: .utf8)) ?? "").split(separator: "\n")
                return Dictionary(uniqueKeysWithValues: hosts.map { host in (host, lines.filter { $0.hasPrefix(host + " ") && $0.contains(text) }.count) })
            }
            #expect(await waitUntil(timeout: .seconds(30)) { counts(" | ").values.allSatisfy { $0 >= 1 } }, "the follow is on: \(counts(" | "))")
            let before = counts("| hello-v1")
            #expect(try await fleet.drover("scale", "web", "4").status == 0)
            let sawAll = await waitUntil(timeout: .seconds(30)) {
                let now = counts("| hello-v1")
                return hosts.allSatisfy { now[$0, default: 0] > before[$0, default: 0] }
            }
            #expect(sawAll, "the new instances' lines arrive live: \((try? String(contentsOfFile: followed, encoding: .utf8)) ?? "")")
            kill(follower.pid, SIGTERM)
            _ = await follower.wait()

            let history = try await fleet.drover("history", "web", "-n", "200")
            #expect(history.status == 0 && history.stdout.contains("deployment.reverted") && history.stdout.contains("autoscale.enabled"), "\(history)")

            // One host gone: status says which, exits 3, and still shows the others.
            await fleet.agents[1].stop()
            let partial = try await fleet.drover("status")
            #expect(partial.status == 3, "\(partial)")
            #expect(partial.stderr.contains("host-2") && partial.stderr.contains("unreachable"), "\(partial)")
            let rows = partial.stdout.split(separator: "\n")
            #expect(rows.contains { $0.hasPrefix("host-1") && $0.contains("web") } && rows.contains { $0.hasPrefix("host-3") && $0.contains("web") }, "\(partial)")
        }
    }

    @Test func aVersionGivenTwiceForOtherContentIsRefusedNotSkipped() async throws {
        try await Fleet.run(hosts: 1) { fleet in
            try fleet.writeManifest("web", manifest(fleet, arguments: ["--print", "one"]))
            #expect(try await fleet.drover("deploy", "web", "--version", "1.0").status == 0)
            try fleet.writeManifest("web", manifest(fleet, arguments: ["--print", "two"]))
            let reused = try await fleet.drover("deploy", "web", "--version", "1.0")
            #expect(reused.status == 1, "\(reused)")
            #expect(reused.stderr.contains("already exists with another spec"), "the agent's reason reaches the operator: \(reused)")
            #expect(try await status(fleet)["host-1"]?.0 == "1.0")
        }
    }

    /// `build` runs in the repository before anything is uploaded, and `artifact` is relative to it.
    @Test func theManifestsBuildRunsFirstAndItsFailureStopsTheDeploy() async throws {
        try await Fleet.run(hosts: 1) { fleet in
            let built = "artifact = \"out/web\"\nbuild = \"mkdir -p out && cp '\(fixturePath)' out/web\"\nbinary = \"web\"\ntype = \"notify\"\n"
            try fleet.writeManifest("web", "artifact = \"out/web\"\nbuild = \"echo compiling; exit 3\"\n")
            let broken = try await fleet.drover("deploy", "web")
            #expect(broken.status == 1 && broken.stderr.contains("the build failed (exit 3)") && broken.stderr.contains("compiling"), "\(broken)")
            #expect(try await fleet.agents[0].request(.GET, "/v1/services/web").status == .notFound, "nothing was uploaded")
            try fleet.writeManifest("web", built)
            let deployed = try await fleet.drover("deploy", "web")
            #expect(deployed.status == 0, "\(deployed)")
            #expect(try await status(fleet)["host-1"]?.1 == 1)
        }
    }

    @Test func inputMistakesExitTwoAndNameTheFile() async throws {
        try await Fleet.run(hosts: 1) { fleet in
            try fleet.writeManifest("web", "artifact = \"x\"\n\ninstnaces = 2\n")
            let validated = try await fleet.drover("validate")
            #expect(validated.status == 2, "\(validated)")
            #expect(validated.stderr.contains("deploy/web.toml:3: unknown key 'instnaces' (did you mean 'instances'?)"), "\(validated)")
            let deploy = try await fleet.drover("deploy", "web")
            #expect(deploy.status == 2 && deploy.stderr.contains("deploy/web.toml:3"), "\(deploy)")
            let unknown = try await fleet.drover("deploy", "nothing")
            #expect(unknown.status == 2 && unknown.stderr.contains("no manifest for nothing"), "\(unknown)")
            let usage = try await fleet.drover("scale", "web")
            #expect(usage.status == 2, "\(usage)")
            let help = try await fleet.drover("deploy", "--help")
            #expect(help.status == 0 && help.stdout.contains("Example:"), "\(help)")
        }
    }
}
