import AsyncHTTPClient
import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// What happens to a booted host when things go wrong: reboots, a stopped or killed agent,
/// hands editing its units, a full disk, a host lost in the middle of a deploy. And the install
/// script's whole life: again, upgrade, uninstall, purge.
extension BootedHostTests {
    /// `instances` active instances of one version on `host`, and nothing else: that version.
    static func settled(_ fleet: BootedFleet, _ host: BootedHost, instances: Int) async -> String? {
        guard let info = try? await fleet.service("web", on: host),
              let current = info.currentVersion,
              info.instances.count == instances,
              info.instances.allSatisfy({ $0.version == current && $0.activeState == "active" })
        else { return nil }
        return current.rawValue
    }

    @Test func aRebootAndAMinuteWithoutTheAgentLoseNothing() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            try fleet.writeManifest("web", Self.manifest(["--print", "hello-v1"]))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let before = try await fleet.service("web", on: host)
            let pids = before.instances.map(\.mainPID)

            // The agent stopped for a minute: the instances keep serving clients outside the host.
            try await host.runChecked(["systemctl", "stop", "drover-agent.service"])
            var served = 0, failed = 0
            let clock = ContinuousClock(), end = clock.now + .seconds(60)
            while clock.now < end {
                if await Self.get("http://\(host.address):8080/") != nil { served += 1 } else { failed += 1 }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(failed == 0 && served > 100, "served \(served), failed \(failed) while the agent was stopped")
            try await host.runChecked(["systemctl", "start", "drover-agent.service"])
            let after = try await fleet.service("web", on: host)
            #expect(after.instances.map(\.mainPID) == pids, "the agent adopted the same processes")
            #expect(after.instances.allSatisfy { $0.activeState == "active" })

            // A reboot: the agent starts at boot and brings the service back, no CLI involved.
            try await host.reboot()
            let back = await waitUntil(timeout: .seconds(60), interval: .milliseconds(250)) {
                await Self.settled(fleet, host, instances: 2) == before.currentVersion?.rawValue
            }
            let afterReboot = try? await fleet.service("web", on: host)
            #expect(back, "after the reboot: \(String(describing: afterReboot))")
            #expect(await Self.get("http://\(host.address):8080/")?.contains("version=\(before.currentVersion?.rawValue ?? "?")") == true)
        }
    }

    @Test func theAgentKilledAtEachStepOfARolloutResumesOrRevertsIt() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            // Each new instance must stay healthy 3 s: a kill right after a step that started
            // one lands with the rollout still running.
            let manifest = { (label: String) in Self.manifest(["--print", label], minHealthy: "3s") }
            try fleet.writeManifest("web", manifest("v0"))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            // How many steps a rollout from one release to another takes here, undisturbed.
            let start = try await fleet.events("web", on: host).last?.id ?? 0
            try fleet.writeManifest("web", manifest("v1"))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let steps = try await fleet.events("web", on: host, since: start).filter { $0.kind == "deployment.step" }.count
            #expect(steps >= 2, "a rolling replacement takes steps")
            let ends: Set = ["deployment.succeeded", "deployment.reverted", "deployment.failed"]
            for step in 1...max(steps, 1) {
                let seen = try await fleet.events("web", on: host).last?.id ?? 0
                let agentBefore = try await BootedFleet.mainPID(of: "drover-agent.service", on: host)
                try fleet.writeManifest("web", manifest("v\(step + 1)"))
                let (cli, _) = try fleet.startDrover("deploy", "web")
                var endedBeforeKill = false
                let reached = await waitUntil(timeout: .seconds(60), interval: .milliseconds(5)) {
                    let events = (try? await fleet.events("web", on: host, since: seen)) ?? []
                    endedBeforeKill = events.contains { ends.contains($0.kind) }
                    return events.filter { $0.kind == "deployment.step" }.count >= step
                }
                #expect(reached, "step \(step) of the rollout")
                try await host.runChecked(["systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", "drover-agent.service"])
                _ = await cli.wait()
                // Before the last step the rollout was still running: the agent must resume it.
                if step < steps { #expect(!endedBeforeKill, "the kill at step \(step) landed mid-rollout") }
                // systemd restarts the agent; it picks the rollout up from its store.
                let outcome = await waitUntil(timeout: .seconds(90), interval: .milliseconds(250)) {
                    guard let events = try? await fleet.events("web", on: host, since: seen) else { return false }
                    return events.contains { ends.contains($0.kind) } ? await Self.settled(fleet, host, instances: 2) != nil : false
                }
                let agentAfter = try await BootedFleet.mainPID(of: "drover-agent.service", on: host)
                let events = try await fleet.events("web", on: host, since: seen).map(\.kind)
                #expect(outcome, "killed at step \(step), the rollout ended with 2 instances of one version: \(events)")
                #expect(agentAfter != agentBefore && agentAfter != 0, "systemd restarted the agent")
                // The CLI released its lease once the agent answered again (or it lapsed).
                let released = await waitUntil(timeout: .seconds(40), interval: .milliseconds(250)) {
                    (try? await fleet.agent(host).lease(of: try ServiceName("web"))) == nil
                }
                #expect(released, "the killed deploy's lease is gone")
                print("agent SIGKILLed at rollout step \(step) of \(steps): \(events.filter { $0.hasPrefix("deployment.") && $0 != "deployment.step" })")
            }
        }
    }

    @Test func unitFilesChangedWhileTheAgentIsDownAreRepairedOnStart() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            try fleet.writeManifest("web", Self.manifest(["--print", "hello"]))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let version = try #require(try await fleet.service("web", on: host).currentVersion?.rawValue)
            let template = "/etc/systemd/system/drover-web_\(version)@.service", socket = "/etc/systemd/system/drover-web.socket"
            let original = try await host.runChecked(["cat", template])
            let originalSocket = try await host.runChecked(["cat", socket])
            let seen = try await fleet.events("web", on: host).last?.id ?? 0

            try await host.runChecked(["systemctl", "stop", "drover-agent.service"])
            try await host.runChecked(["sh", "-c", "sed -i 's/^DynamicUser=yes/DynamicUser=no/' \"$0\" && rm \"$1\" && systemctl daemon-reload", template, socket])
            try await host.runChecked(["systemctl", "start", "drover-agent.service"])

            let repaired = await waitUntil(timeout: .seconds(30), interval: .milliseconds(250)) {
                let templateNow = try? await host.runChecked(["cat", template])
                let socketNow = try? await host.runChecked(["cat", socket])
                return templateNow == original && socketNow == originalSocket
            }
            #expect(repaired, "both unit files are back as rendered")
            let restored = try await fleet.events("web", on: host, since: seen).filter { $0.kind == "unit.restored" }
            #expect(restored.contains { $0.message.contains("drover-web_\(version)@.service") && $0.message.contains("drover-web.socket") },
                    "the repair is an event naming both units: \(restored.map(\.message))")
            #expect(await Self.get("http://\(host.address):8080/") != nil)
        }
    }

    @Test func theInstallScriptIsIdempotentUpgradesInPlaceAndUninstalls() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            try fleet.writeManifest("web", Self.manifest(["--print", "hello"]))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let pids = try await fleet.service("web", on: host).instances.map(\.mainPID)
            let agent = try await BootedFleet.mainPID(of: "drover-agent.service", on: host)

            // Again, same binary: nothing changes, nothing restarts.
            let again = try await BootedFleet.install(on: host)
            #expect(again.contains("nothing to do"), "\(again)")
            #expect(try await BootedFleet.mainPID(of: "drover-agent.service", on: host) == agent)

            // A new binary: the agent restarts on it, the services it runs do not.
            try await host.runChecked(["sh", "-c", "cp \"$0\" /root/drover-agent-new && printf '\\0' >> /root/drover-agent-new", agentPath])
            let upgrade = try await BootedFleet.install(on: host, binary: "/root/drover-agent-new")
            #expect(upgrade.contains("restarted drover-agent on the new version"), "\(upgrade)")
            #expect(try await BootedFleet.mainPID(of: "drover-agent.service", on: host) != agent)
            #expect(try await fleet.service("web", on: host).instances.map(\.mainPID) == pids, "no managed service restarted")

            // Uninstall: the agent goes, its services stay (and are adopted by a new install).
            let script = BootedFleet.checkout + "/deploy/install-agent.sh"
            let uninstall = try await host.runChecked([script, "--uninstall"])
            #expect(uninstall.contains("keep running"), "\(uninstall)")
            #expect(try await host.run(["systemctl", "is-active", "drover-agent.service"]).output == "inactive\n")
            #expect(try await host.run(["test", "-e", "/usr/local/bin/drover-agent"]).status != 0)
            #expect(await Self.get("http://\(host.address):8080/") != nil, "the service still answers")
            try await BootedFleet.install(on: host)
            #expect(try await fleet.service("web", on: host).instances.map(\.mainPID) == pids)

            // Purge: nothing of Drover is left, a live resize's drop-in included.
            _ = try await fleet.agent(host).setLimits(ServiceName("web"), InstanceLimits(cpuPercent: 150))
            #expect(try await host.run(["sh", "-c", "ls /etc/systemd/system/drover-web_*.service.d/"]).output.contains("90-drover-limits.conf"))
            let purge = try await host.runChecked([script, "--uninstall", "--purge"])
            #expect(purge.contains("nothing of Drover is left"), "\(purge)")
            let units = try await host.runChecked(["systemctl", "list-units", "--all", "--plain", "--no-legend", "drover-*"])
            #expect(units.isEmpty, "\(units)")
            #expect(try await host.run(["sh", "-c", "ls /etc/systemd/system | grep '^drover-'"]).output.isEmpty)
            #expect(try await host.run(["test", "-e", "/var/lib/drover"]).status != 0)
            #expect(try await host.run(["test", "-e", "/etc/drover"]).status != 0)
            #expect(await Self.get("http://\(host.address):8080/") == nil)

            // Installed anew, the agent makes a new certificate: the inventory's pin refuses the
            // host, naming both fingerprints, until the operator trusts the new one on purpose.
            let reinstalled = try await BootedFleet.install(on: host)
            let renewed = try BootedFleet.printedFingerprint(in: reinstalled)
            let pinned = try #require(fleet.fingerprints[host.name])
            #expect(renewed != pinned)
            let refused = try await fleet.drover("hosts")
            #expect(refused.status == 1 && refused.stdout.contains("untrusted"), "\(refused)")
            #expect(refused.stderr.contains("\(renewed)") && refused.stderr.contains("\(pinned)")
                    && refused.stderr.contains("drover hosts trust \(host.name) --fingerprint \(renewed)"), "\(refused)")
            #expect(try await fleet.drover("hosts", "trust", host.name, "--fingerprint", "\(renewed)").status == 0)
            #expect(try await fleet.drover("hosts").status == 0)

            // Plain HTTP on the host's own address: the agent refuses to start, and says how to allow it.
            let plain = try await host.run(["sh", "-c", "printf 'tls = false\\n' > /root/plain.toml && /usr/local/bin/drover-agent --listen \(host.address):7071 --config /root/plain.toml"])
            #expect(plain.status != 0 && plain.output.contains("clear text") && plain.output.contains("allow_plaintext = true"), "\(plain)")
        }
    }

    @Test func aFullStateDiskRefusesTheUploadWith507AndKeepsNothing() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            // The state directory on a 40 MiB filesystem, with what it held (the store: its tokens).
            try await host.runChecked(["sh", "-c", "systemctl stop drover-agent && cp -a /var/lib/drover /root/state-copy && mount -t tmpfs -o size=40m drover-state /var/lib/drover && cp -a /root/state-copy/. /var/lib/drover/ && systemctl start drover-agent"])
            let big = fleet.repository + "/big"
            try #require(FileManager.default.createFile(atPath: big, contents: Data(count: 64 << 20)))
            let refusal = await #expect(throws: AgentClientError.self) {
                try await fleet.agent(host).upload(ServiceName("big"), ReleaseVersion("1"), file: big, spec: ServiceSpec(binary: "big"))
            }
            #expect(refusal?.kind == .agent(status: 507, code: "no_space") && refusal?.message.contains("out of space") == true, "\(String(describing: refusal))")

            // The same through the CLI: the operator reads why.
            try fleet.writeManifest("big", "artifact = \"big\"\nbinary = \"big\"\n")
            let refused = try await fleet.drover("deploy", "big")
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains("out of space") || refused.stdout.contains("out of space"), "the operator reads why: \(refused)")

            let files = try await host.runChecked(["sh", "-c", "cd /var/lib/drover && find . -mindepth 1 ! -name 'state.sqlite*' ! -name '.' | sort"])
            #expect(!files.contains("big") && !files.split(separator: "\n").contains { $0.contains("staging/") }, "nothing half-written: \(files)")
            let used = try await host.runChecked(["sh", "-c", "df --output=used -k /var/lib/drover | tail -1"])
            #expect((Int(used.trimmingCharacters(in: .whitespacesAndNewlines)) ?? .max) < 4096, "the space is given back (\(used) KiB used)")
            let unknown = await #expect(throws: AgentClientError.self) { try await fleet.service("big", on: host) }
            #expect(unknown?.kind == .agent(status: 404, code: "unknown_service"), "no trace of the service: \(String(describing: unknown))")

            // The next upload, one that fits, works.
            try fleet.writeManifest("web", Self.manifest(["--print", "fits"]))
            let fits = try await fleet.drover("deploy", "web")
            #expect(fits.status == 0, "\(fits)")
        }
    }

    @Test func aHostCutOffInTheMiddleOfADeployStopsTheCLIWhichRevertsTheDoneHost() async throws {
        try await BootedFleet.run(hosts: 2) { fleet in
            let (h1, h2) = (fleet.hosts[0], fleet.hosts[1])
            try fleet.writeManifest("web", Self.manifest(["--print", "v1"]))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let v1 = try #require(try await fleet.service("web", on: h1).currentVersion?.rawValue)
            let seen = try await fleet.events("web", on: h1).last?.id ?? 0

            // h1 rolls first; while it does, h2 drops off the network.
            try fleet.writeManifest("web", Self.manifest(["--print", "v2"]))
            let (cli, output) = try fleet.startDrover("--timeout", "5", "deploy", "web", "--batch", "1")
            let rolling = await waitUntil(timeout: .seconds(60), interval: .milliseconds(5)) {
                (try? await fleet.events("web", on: h1, since: seen))?.contains { $0.kind == "deployment.started" } == true
            }
            #expect(rolling)
            try await h2.disconnect()
            let status = await cli.wait()
            let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            try await h2.reconnect()
            #expect(status == 3, "exit 3: a host was unreachable\n\(printed)")
            let rows = printed.split(separator: "\n")
            #expect(rows.contains { $0.hasPrefix("h2") && $0.contains("unreachable") } && rows.contains { $0.hasPrefix("h1") && $0.contains("reverted") }, "\(printed)")
            #expect(await Self.settled(fleet, h1, instances: 2) == v1, "h1 is back on v1")
            #expect(await Self.settled(fleet, h2, instances: 2) == v1, "h2 never left v1")
        }
    }

    @Test func aPythonTarballAndAServiceWithStateRunUnderTheDefaultSandbox() async throws {
        try await BootedFleet.run(hosts: 1) { fleet in
            let host = fleet.hosts[0]
            // A Python HTTP service with a data file, and a counter kept in its StateDirectory.
            let app = fleet.repository + "/pyapp"
            try FileManager.default.createDirectory(atPath: app + "/data", withIntermediateDirectories: true)
            try "greetings from a tarball\n".write(toFile: app + "/data/greeting.txt", atomically: true, encoding: .utf8)
            try """
                #!/usr/bin/python3
                import http.server, os, pathlib
                here = pathlib.Path(__file__).parent
                state = pathlib.Path(os.environ["STATE_DIRECTORY"]) / "count"
                class Handler(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        if self.path == "/count":
                            count = int(state.read_text()) + 1 if state.exists() else 1
                            state.write_text(str(count))
                            body = f"{count}\\n"
                        else:
                            body = (here / "data" / "greeting.txt").read_text()
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body.encode())
                print("python service on port", os.environ["PORT"], flush=True)
                http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()

                """.write(toFile: app + "/server.py", atomically: true, encoding: .utf8)
            chmod(app + "/server.py", 0o755)
            let tar = try ChildProcess.spawn("/bin/tar", ["-czf", fleet.repository + "/pyapp.tar.gz", "-C", app, "server.py", "data"])
            #expect(await tar.wait() == 0)
            try fleet.writeManifest("pyapp", """
                artifact = "pyapp.tar.gz"
                binary = "server.py"
                type = "simple"
                instances = 1

                [health]
                path = "/"

                [sandbox]
                StateDirectory = "pyapp"
                """)
            let deployed = try await fleet.drover("deploy", "pyapp")
            #expect(deployed.status == 0, "\(deployed)")
            let fetch = { (path: String) async throws -> String in
                let port = try await fleet.service("pyapp", on: host).instances.first?.port ?? 0
                let result = try await host.run(["/usr/bin/python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end='')",
                                                 "http://127.0.0.1:\(port)\(path)"])
                guard result.status == 0 else {
                    let journal = try await host.run(["journalctl", "--no-pager", "-n", "30", "-u", "drover-pyapp*"]).output
                    throw AgentTestError("GET \(path) failed: \(result.output)\njournal:\n\(journal)")
                }
                return result.output
            }
            #expect(try await fetch("/") == "greetings from a tarball\n")
            #expect(try await fetch("/count") == "1\n")
            #expect(try await fetch("/count") == "2\n")
            let logs = try await fleet.drover("logs", "pyapp", "-n", "20")
            #expect(logs.stdout.contains("python service on port"), "journald has its lines: \(logs)")

            // The state outlives the release: a new one counts on.
            try fleet.writeManifest("pyapp", """
                artifact = "pyapp.tar.gz"
                binary = "server.py"
                type = "simple"
                instances = 1
                environment = { RELEASE = "2" }

                [health]
                path = "/"

                [sandbox]
                StateDirectory = "pyapp"
                """)
            #expect(try await fleet.drover("deploy", "pyapp").status == 0)
            #expect(try await fetch("/count") == "3\n")
            #expect(try await host.runChecked(["cat", "/var/lib/pyapp/count"]) == "3", "written through StateDirectory=")
        }
    }
}
