import Crypto
import DroverAPI
import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// One-off runs through the real `drover` against three agents: a deploy's release command
/// (once per deploy, in the release's own environment, before anything changes) and `drover
/// exec` (a command's output and exit status, bounded, stopped by Ctrl-C).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct OneOffRunTests {
    static let password = "release-phase-secret-\(UUID().uuidString)"

    /// `release`: the [release] table. The command proves where it runs without printing the
    /// secret: the secret's SHA-256, the release directory, and the kernel's no-new-privileges bit.
    static func manifest(release: String, generation: Int = 1) -> String {
        """
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = 2

        [environment]
        GENERATION = "\(generation)"

        [secrets]
        DB_PASSWORD = { file = "secrets/db_password" }

        [rollout]
        min_healthy = "0.2s"
        batch = 3

        [release]
        \(release)
        """
    }

    static let migrate = #"command = ["/bin/sh", "-c", "echo migrating $DROVER_SERVICE $DROVER_VERSION in $PWD; sha256sum < $CREDENTIALS_DIRECTORY/DB_PASSWORD; grep NoNewPrivs /proc/self/status"]"#

    @Test func aReleaseCommandRunsOncePerDeployInTheReleaseBeforeAnythingChanges() async throws {
        try await Fleet.run(hosts: 3) { fleet in
            try FileManager.default.createDirectory(atPath: fleet.repository + "/secrets", withIntermediateDirectories: true)
            try Self.password.write(toFile: fleet.repository + "/secrets/db_password", atomically: true, encoding: .utf8)
            try fleet.writeManifest("web", Self.manifest(release: Self.migrate))
            let deployed = try await fleet.drover("deploy", "web")
            #expect(deployed.status == 0, "\(deployed)")
            let digest = SHA256.hash(data: Data(Self.password.utf8)).map { String(format: "%02x", $0) }.joined()
            #expect(deployed.stderr.contains("host-1 │ migrating web "), "the output streams with the host's name: \(deployed)")
            #expect(deployed.stderr.contains(digest), "it reads the secret from its credentials directory: \(deployed)")
            #expect(deployed.stderr.contains("NoNewPrivs:\t1"), "sandboxed as an instance is: \(deployed)")
            #expect(deployed.stderr.contains("/services/web/releases/"), "in the release's directory: \(deployed)")
            #expect(!deployed.stderr.contains(Self.password) && !deployed.stdout.contains(Self.password))

            // Exactly once: on the first host, recorded with who ran it; a redeploy of the same
            // content does not run it again.
            func runs() async throws -> [Int] {
                var counts: [Int] = []
                for agent in fleet.agents {
                    counts.append(try await agent.request(.GET, "/v1/events?service=web&limit=1000").decode([EventInfo].self)
                        .filter { $0.kind == "release.command.succeeded" }.count)
                }
                return counts
            }
            #expect(try await runs() == [1, 0, 0])
            let started = try await fleet.agents[0].request(.GET, "/v1/events?service=web&limit=1000").decode([EventInfo].self)
                .first { $0.kind == "release.command.started" }
            #expect(started?.by == "install", "history names the token: \(String(describing: started))")
            let again = try await fleet.drover("deploy", "web")
            #expect(again.status == 0 && again.stderr.contains("already succeeded"), "\(again)")
            #expect(try await runs() == [1, 0, 0])

            // A failing one stops the deploy before any host changes.
            var before: [[String]] = []
            for agent in fleet.agents {
                let info = try await agent.request(.GET, "/v1/services/web").decode(ServiceInfo.self)
                before.append([info.currentVersion?.rawValue ?? "-"] + info.instances.map { "\($0.slot):\($0.mainPID ?? 0)" }.sorted())
            }
            try fleet.writeManifest("web", Self.manifest(release: #"command = ["/bin/sh", "-c", "echo boom on the way; exit 3"]"#, generation: 2))
            let failed = try await fleet.drover("deploy", "web")
            #expect(failed.status == 1, "\(failed)")
            #expect(failed.stderr.contains("release command on host-1 exited with status 3") && failed.stderr.contains("boom on the way"),
                    "names the host, the status and the last lines: \(failed)")
            #expect(failed.stdout.contains("not started"), "\(failed)")
            for (index, agent) in fleet.agents.enumerated() {
                let info = try await agent.request(.GET, "/v1/services/web").decode(ServiceInfo.self)
                #expect([info.currentVersion?.rawValue ?? "-"] + info.instances.map { "\($0.slot):\($0.mainPID ?? 0)" }.sorted() == before[index],
                        "host-\(index + 1) unchanged")
            }
            let failures = try await fleet.agents[0].request(.GET, "/v1/events?service=web&limit=1000").decode([EventInfo].self)
                .filter { $0.kind == "release.command.failed" }
            #expect(failures.count == 1 && failures[0].message.contains("exited with status 3"), "\(failures)")
            // Nothing of a run is left behind on the host.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: fleet.agents[0].manager.unitDirectory).filter { $0.contains(".run-") }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }
    }

    @Test func execReturnsTheCommandsOutputAndStatusAndStopsOnCtrlC() async throws {
        try await Fleet.run(hosts: 2) { fleet in
            try FileManager.default.createDirectory(atPath: fleet.repository + "/secrets", withIntermediateDirectories: true)
            try Self.password.write(toFile: fleet.repository + "/secrets/db_password", atomically: true, encoding: .utf8)
            try fleet.writeManifest("web", Self.manifest(release: #"command = ["/bin/true"]"#))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let slotPorts = Set(try await fleet.agents[1].request(.GET, "/v1/services/web/instances").decode([InstanceInfo].self).compactMap(\.port))

            let run = try await fleet.drover("exec", "web", "--host", "host-2", "--",
                                             "/bin/sh", "-c", "echo out; echo err >&2; echo port=$PORT; grep NoNewPrivs /proc/self/status; test -s $CREDENTIALS_DIRECTORY/DB_PASSWORD && echo secret-readable; exit 7")
            #expect(run.status == 7, "the command's status is drover's: \(run)")
            for line in ["out", "err", "NoNewPrivs:\t1", "secret-readable"] { #expect(run.stdout.contains(line), "\(line): \(run)") }
            let port = run.stdout.split(separator: "\n").first { $0.hasPrefix("port=") }.flatMap { Int($0.dropFirst(5)) }
            #expect(port != nil && !slotPorts.contains(port!), "a PORT no slot uses: \(String(describing: port)) vs \(slotPorts)")
            #expect(run.stderr.contains("host-2") && run.stderr.contains("exited with status 7"), "\(run)")
            let events = try await fleet.agents[1].request(.GET, "/v1/events?service=web&limit=1000").decode([EventInfo].self)
            #expect(events.contains { $0.kind == "run.failed" && $0.by == "install" && $0.message.contains("status 7") }, "\(events.map(\.kind))")
            #expect(try await fleet.agents[0].request(.GET, "/v1/events?service=web&limit=1000").decode([EventInfo].self).allSatisfy { !$0.kind.hasPrefix("run.") },
                    "only on the host asked")

            // A read token cannot run anything.
            let reader = try await fleet.agents[0].addToken("reader", scope: "read")
            let refused = try await fleet.agents[0].request(.POST, "/v1/services/web/runs", body: Data(#"{"command": ["/bin/true"]}"#.utf8),
                                                            headers: [("Content-Type", "application/json")], token: reader)
            #expect(refused.status == .forbidden && refused.errorCode == "insufficient_scope", "\(refused.text)")

            let json = try await fleet.drover("--json", "exec", "web", "--", "/bin/echo", "hello")
            struct Outcome: Decodable { let host: String; let exitStatus: Int32?; let result: String?; let output: String? }
            let outcome = try json.json(Outcome.self)
            #expect(json.status == 0 && outcome.host == "host-1" && outcome.exitStatus == 0 && outcome.result == "success" && outcome.output == "hello\n", "\(json)")

            // A relative path is the release's own binary (the fixture serves until stopped).
            let bounded = try await fleet.drover("exec", "web", "--timeout", "2", "--", "./web")
            #expect(bounded.status == 1 && bounded.stderr.contains("time limit"), "\(bounded)")
            let empty = try await fleet.drover("exec", "web")
            #expect(empty.status == 2 && empty.stderr.contains("give the command after --"), "\(empty)")
            let escaping = try await fleet.drover("exec", "web", "--", "../../bin/sh")
            #expect(escaping.status == 2 && escaping.stderr.contains("inside the release"), "\(escaping)")

            // Ctrl-C stops it on the host.
            let (process, output) = try fleet.startDrover("exec", "web", "--", "/bin/sh", "-c", "echo waiting; exec sleep 60")
            defer { unlink(output) }
            let waiting = await waitUntil(timeout: .seconds(20)) { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("waiting") }
            #expect(waiting, "\((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
            kill(process.pid, SIGINT)
            let status = await process.wait()
            #expect(status == 130, "\((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
            let stopped = try await waitUntil(timeout: .seconds(20)) {
                try await fleet.agents[0].request(.GET, "/v1/events?service=web&limit=1000").decode([EventInfo].self)
                    .contains { $0.kind == "run.failed" && $0.message.contains("stopped before it ended") }
            }
            let seen = try await fleet.agents[0].request(.GET, "/v1/events?service=web&limit=1000").decode([EventInfo].self).filter { $0.kind.hasPrefix("run.") }
            #expect(stopped, "the run was stopped on the host: \(seen.map { "\($0.kind) \($0.message)" })")
            let leftovers = await waitUntil(timeout: .seconds(10)) {
                ((try? FileManager.default.contentsOfDirectory(atPath: fleet.agents[0].manager.unitDirectory)) ?? []).allSatisfy { !$0.contains(".run-") }
            }
            #expect(leftovers, "its unit is removed")

            // An agent killed mid-run: the next one stops the run and removes its files.
            let (orphaned, output3) = try fleet.startDrover("exec", "web", "--", "/bin/sh", "-c", "echo orphan; exec sleep 60")
            defer { unlink(output3) }
            #expect(await waitUntil(timeout: .seconds(20)) { ((try? String(contentsOfFile: output3, encoding: .utf8)) ?? "").contains("orphan") })
            await fleet.agents[0].crash()
            #expect(await orphaned.wait() == 3, "the host went away: \((try? String(contentsOfFile: output3, encoding: .utf8)) ?? "")")
            let unitDirectory = fleet.agents[0].manager.unitDirectory
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: unitDirectory)) ?? []).contains { $0.contains(".run-") }, "left by the killed agent")
            try await fleet.agents[0].restart()
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: unitDirectory)) ?? []).allSatisfy { !$0.contains(".run-") }, "swept at start")
            let systemd = try await SystemdClient.connect(to: fleet.agents[0].manager.busAddress)
            let running = try await systemd.listUnits(matching: ["drover-web_*.run-*"], states: []).filter { $0.activeState == "active" || $0.activeState == "activating" }
            await systemd.close()
            #expect(running.isEmpty, "its unit is stopped: \(running)")
        }
    }
}
