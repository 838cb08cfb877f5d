import AsyncHTTPClient
import DroverAPI
import DroverTestbed
import Foundation
import NIOCore
import Synchronization
import Testing

/// Drover as operators run it: on machines booted with systemd as PID 1, each with its own
/// address, the agent installed by `deploy/install-agent.sh` as a system service, services
/// under the default sandbox, driven by the real `drover` from this machine over the network.
// 20 minutes: the limit covers the wait for the CPU of the test that measures it (see HostCPUGate).
@Suite(.serialized, .timeLimit(.minutes(20)))
struct BootedHostTests {
    /// The test fixture as a service behind one shared socket, health-checked on its own port.
    static func manifest(_ arguments: [String], deadline: String = "20s", minHealthy: String = "0.5s") -> String {
        """
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = 2
        listen = "0.0.0.0:8080"
        arguments = [\(arguments.map { "\"\($0)\"" }.joined(separator: ", "))]

        [health]
        path = "/healthz"
        interval = "200ms"

        [rollout]
        min_healthy = "\(minHealthy)"
        deadline = "\(deadline)"
        """
    }

    /// By host: (current version, instances of it that are active, desired).
    static func status(_ fleet: BootedFleet, _ service: String = "web") async throws -> [String: (String?, Int, Int)] {
        var result: [String: (String?, Int, Int)] = [:]
        for host in fleet.hosts {
            let info = try await fleet.service(service, on: host)
            let ready = info.instances.filter { $0.version == info.currentVersion && $0.activeState == "active" }.count
            result[host.name] = (info.currentVersion?.rawValue, ready, info.desiredInstances)
        }
        return result
    }

    /// GET `url` from this machine; the body, or nil if the request failed.
    static func get(_ url: String) async -> String? {
        guard let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5)),
              response.status == .ok,
              let body = try? await response.body.collect(upTo: 1 << 20)
        else { return nil }
        return String(buffer: body)
    }

    @Test func threeBootedHostsInstalledByTheScriptRunTheDailyLoop() async throws {
        try await BootedFleet.run(hosts: 3) { fleet in
            // The install script: a 0600 token, the agent serving HTTPS on the host's own
            // address with its own 0600 key and certificate, and an inventory entry printed for
            // the operator with the certificate's fingerprint to pin.
            for (host, output) in zip(fleet.hosts, fleet.installOutput) {
                #expect(output.contains("serving HTTPS on \(host.address):7070") && output.contains("[hosts.\(host.name)]"), "\(output)")
                #expect(output.contains("tls_fingerprint = \"\(fleet.fingerprints[host.name]!)\""), "\(output)")
                // The admin token was printed once; no file on the host holds it in plain form.
                let token = try BootedFleet.printedToken(in: output).trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(try await host.run(["grep", "-rlF", token, "/etc/drover", "/var/lib/drover", "/usr/local/bin", "/etc/systemd/system"]).output.isEmpty,
                        "the token is on disk in plain form")
                #expect(try await host.run(["test", "-e", "/etc/drover/token"]).status != 0)
                #expect(try await host.runChecked(["stat", "-c", "%a %U", "/etc/drover/agent.key", "/etc/drover/agent.crt"]) == "600 root\n600 root\n")
                #expect(try await host.runChecked(["drover-agent", "fingerprint"]) == "\(fleet.fingerprints[host.name]!)\n")
                // Only TLS is spoken there: a plain HTTP request gets no answer.
                #expect(await Self.get("http://\(host.address):7070/v1/health") == nil, "no plain HTTP on \(host.address)")
                #expect(try await host.runChecked(["systemctl", "is-active", "drover-agent.service"]) == "active\n")
            }
            let hosts = try await fleet.drover("hosts")
            #expect(hosts.status == 0 && fleet.hosts.allSatisfy { hosts.stdout.contains($0.address) }, "\(hosts)")

            // v1 everywhere, under the default sandbox.
            try fleet.writeManifest("web", Self.manifest(["--print", "hello-v1"]))
            let first = try await fleet.drover("deploy", "web")
            #expect(first.status == 0, "\(first)")
            let v1 = try #require(try await Self.status(fleet)["h1"]?.0)
            #expect(try await Self.status(fleet).values.allSatisfy { $0.0 == v1 && $0.1 == 2 && $0.2 == 2 })
            for host in fleet.hosts {
                #expect(await Self.get("http://\(host.address):8080/")?.contains("version=\(v1)") == true, "\(host.name) serves v1 from outside")
            }
            let h1 = fleet.hosts[0]
            let instance = try #require(try await fleet.service("web", on: h1).instances.first)
            let pid = try #require(instance.mainPID)
            let uid = try #require(Int(try await h1.runChecked(["stat", "-c", "%u", "/proc/\(pid)"]).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect((61184...65519).contains(uid), "a dynamic user runs the instance (uid \(uid))")
            let properties = try await h1.runChecked(["systemctl", "show", instance.unit, "-p", "DynamicUser,ProtectSystem,NoNewPrivileges"])
            #expect(properties.contains("DynamicUser=yes") && properties.contains("ProtectSystem=strict") && properties.contains("NoNewPrivileges=yes"), "\(properties)")

            // Metrics from the host's cgroups, through the API and /metrics.
            let measured = await waitUntil(timeout: .seconds(10), interval: .milliseconds(200)) {
                let instances = (try? await fleet.service("web", on: h1).instances) ?? []
                return !instances.isEmpty && instances.allSatisfy { ($0.memoryBytes ?? 0) > 0 && ($0.cpuNanoseconds ?? 0) > 0 }
            }
            #expect(measured, "CPU and memory of every instance read from the booted host's cgroups")
            let metrics = try await fleet.agent(h1).metrics()
            #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("drover_instance_memory_bytes{") && $0.contains("service=\"web\"") && !$0.hasSuffix(" 0") }, "\(metrics.prefix(2000))")

            // journald has the instances' lines, and `drover logs` reads them from every host.
            let logs = try await fleet.drover("logs", "web", "-n", "50")
            #expect(logs.status == 0, "\(logs)")
            for host in fleet.hosts {
                #expect(logs.stdout.split(separator: "\n").contains { $0.hasPrefix(host.name) && $0.contains("hello-v1") }, "\(host.name) in \(logs)")
            }

            // v2 through the shared socket while a client outside the host keeps asking h1.
            let counts = Mutex((ok: 0, failed: 0, versions: Set<String>()))
            let stop = Atomic<Bool>(false)
            let client = Task {
                while !stop.load(ordering: .relaxed) {
                    let body = await Self.get("http://\(h1.address):8080/")
                    counts.withLock { counts in
                        if let body {
                            counts.ok += 1
                            if let version = body.split(separator: " ").first(where: { $0.hasPrefix("version=") }) { counts.versions.insert(String(version)) }
                        } else {
                            counts.failed += 1
                        }
                    }
                }
            }
            try fleet.writeManifest("web", Self.manifest(["--print", "hello-v2"]))
            let second = try await fleet.drover("deploy", "web", "--batch", "1")
            stop.store(true, ordering: .relaxed)
            await client.value
            #expect(second.status == 0, "\(second)")
            let v2 = try #require(try await Self.status(fleet)["h1"]?.0)
            #expect(v2 != v1)
            #expect(try await Self.status(fleet).values.allSatisfy { $0.0 == v2 && $0.1 == 2 })
            let seen = counts.withLock { $0 }
            print("booted-host handoff: \(seen.ok) requests from outside the host, \(seen.failed) failed, versions \(seen.versions.sorted())")
            #expect(seen.failed == 0 && seen.ok > 20 && seen.versions.count == 2, "zero failed requests during the rollout: \(seen)")

            // v3 cannot become ready on h2 only (it waits for a file only h1 and h3 have):
            // drover stops at h2 and reverts h1; h3 is never touched.
            for host in [fleet.hosts[0], fleet.hosts[2]] { try await host.runChecked(["touch", "/etc/drover-test-ready"]) }
            let h3Before = try await fleet.service("web", on: fleet.hosts[2]).instances.map(\.mainPID)
            try fleet.writeManifest("web", Self.manifest(["--print", "hello-v3", "--ready-when-exists", "/etc/drover-test-ready"], deadline: "4s"))
            let third = try await fleet.drover("deploy", "web", "--batch", "1")
            #expect(third.status == 1, "\(third)")
            let rows = third.stdout.split(separator: "\n")
            #expect(rows.contains { $0.hasPrefix("h1") && $0.contains("reverted") } && rows.contains { $0.hasPrefix("h2") && $0.contains("failed") }, "\(third)")
            #expect(try await Self.status(fleet).values.allSatisfy { $0.0 == v2 && $0.1 == 2 }, "every host back on v2")
            #expect(try await fleet.service("web", on: fleet.hosts[2]).instances.map(\.mainPID) == h3Before, "h3 was never rolled")

            // Roll back to v1, scale, autoscale.
            let rolledBack = try await fleet.drover("rollback", "web", "--to", v1)
            #expect(rolledBack.status == 0, "\(rolledBack)")
            #expect(try await Self.status(fleet).values.allSatisfy { $0.0 == v1 && $0.1 == 2 })
            #expect(try await fleet.drover("scale", "web", "3").status == 0)
            #expect(try await Self.status(fleet).values.allSatisfy { $0.1 == 3 && $0.2 == 3 })
            let status = try await fleet.drover("status", "web")
            #expect(status.status == 0 && fleet.hosts.allSatisfy { host in
                status.stdout.split(separator: "\n").contains { $0.hasPrefix(host.name) && $0.contains("3/3") }
            }, "\(status)")
        }
    }

    @Test func autoscalingUnderLoadFromOutsideTheHost() async throws {
        try await BootedFleet.run(hosts: 1, measuresCPU: true) { fleet in
            let host = fleet.hosts[0]
            try fleet.writeManifest("web", Self.manifest(["--print", "hello"]).replacingOccurrences(of: "instances = 2", with: "instances = 1"))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let autoscale = try await fleet.drover("autoscale", "web", "--min", "1", "--max", "3", "--cpu", "30%", "--interval", "1")
            #expect(autoscale.status == 0, "\(autoscale)")

            // Clients on this machine keep the instances busy through the shared socket.
            let grew = await withTaskGroup(of: Bool?.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        while !Task.isCancelled { _ = await Self.get("http://\(host.address):8080/burn?ms=300") }
                        return nil
                    }
                }
                group.addTask {
                    await waitUntil(timeout: .seconds(60), interval: .milliseconds(500)) {
                        ((try? await fleet.service("web", on: host))?.desiredInstances ?? 0) >= 2
                    }
                }
                var grew = false
                for await result in group {
                    if let result {
                        grew = result
                        group.cancelAll()
                    }
                }
                return grew
            }
            let info = try await fleet.service("web", on: host)
            #expect(grew, "the agent scaled out under load: \(info.desiredInstances) wanted, \(info.instances.map { ($0.slot, $0.cpuCores ?? -1) })")
            let history = try await fleet.drover("history", "web")
            #expect(history.stdout.contains("autoscale"), "the decision is in the history with its reason: \(history)")
            #expect(try await fleet.drover("autoscale", "web", "--off").status == 0)
        }
    }
}
