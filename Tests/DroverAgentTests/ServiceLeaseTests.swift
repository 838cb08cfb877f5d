import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// One operator at a time: through the real `drover` against three agents, a deploy holds the
/// service's lease, a second one is refused naming the first, a dead holder's lease lapses by
/// itself, Ctrl-C releases it, and `drover lock` holds it until `drover unlock`.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct ServiceLeaseTests {
    static func manifest(generation: Int, minHealthy: String = "0.2s") -> String {
        """
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = 2

        [environment]
        GENERATION = "\(generation)"

        [rollout]
        min_healthy = "\(minHealthy)"
        batch = 3
        """
    }

    func lease(_ fleet: Fleet, _ index: Int = 0) async throws -> LeaseInfo? {
        let reply = try await fleet.agents[index].request(.GET, "/v1/services/web/lease")
        return reply.status == .ok ? try reply.decode(LeaseInfo.self) : nil
    }

    @Test func aSecondDeployIsRefusedNamingTheFirstAndCtrlCReleases() async throws {
        try await Fleet.run(hosts: 3) { fleet in
            try fleet.writeManifest("web", Self.manifest(generation: 1))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            #expect(try await lease(fleet) == nil, "released at the end")

            // A slow deploy holds the lease on every host while it runs.
            try fleet.writeManifest("web", Self.manifest(generation: 2, minHealthy: "4s"))
            let (first, output) = try fleet.startDrover("deploy", "web", "-m", "ship the login fix")
            defer { unlink(output) }
            // The CLI takes the hosts' leases side by side: wait for all three.
            var firstHostLease: LeaseInfo?
            let held = try await waitUntil(timeout: .seconds(30)) {
                let leases = [try await lease(fleet, 0), try await lease(fleet, 1), try await lease(fleet, 2)]
                firstHostLease = leases[0]
                return leases.allSatisfy { $0 != nil }
            }
            #expect(held, "every host holds the lease while the deploy runs")
            let holding = try #require(firstHostLease)
            #expect(holding.operation == "deploy" && holding.message == "ship the login fix" && holding.holder.contains("@") && holding.expiresAt != nil, "\(holding)")

            let second = try await fleet.drover("deploy", "web")
            #expect(second.status == 1, "\(second)")
            #expect(second.stderr.contains("web is being deployed by \(holding.holder) since ") && second.stderr.contains(": ship the login fix"), "\(second)")
            #expect(second.stderr.contains("nothing was changed"), "\(second)")
            // The API refuses a change made without the lease, whoever sends it.
            let direct = try await fleet.agents[1].request(.PUT, "/v1/services/web/scale", body: Data(#"{"instances": 3}"#.utf8), headers: [("Content-Type", "application/json")])
            #expect(direct.status == .conflict && direct.errorCode == "leased", "\(direct.text)")

            #expect(await first.wait() == 0, "\((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
            for index in 0..<3 { #expect(try await lease(fleet, index) == nil, "host-\(index + 1) released") }

            // Ctrl-C releases the lease before drover exits, not when it lapses.
            try fleet.writeManifest("web", Self.manifest(generation: 3, minHealthy: "4s"))
            let (interrupted, output2) = try fleet.startDrover("deploy", "web")
            defer { unlink(output2) }
            let rolling = await waitUntil(timeout: .seconds(30)) {
                ((try? String(contentsOfFile: output2, encoding: .utf8)) ?? "").contains("deployment ")
            }
            #expect(rolling)
            kill(interrupted.pid, SIGINT)
            #expect(await interrupted.wait() == 130)
            for index in 0..<3 { #expect(try await lease(fleet, index) == nil, "host-\(index + 1) released at once") }
        }
    }

    @Test func aDeadHoldersLeaseLapsesAndALockHoldsUntilUnlocked() async throws {
        try await Fleet.run(hosts: 2) { fleet in
            try fleet.writeManifest("web", Self.manifest(generation: 1))
            #expect(try await fleet.drover("deploy", "web").status == 0)

            // A holder that died: its lease (5 s) is not renewed and lapses by itself.
            for agent in fleet.agents {
                let taken = try await agent.request(.PUT, "/v1/services/web/lease", body: Data(#"{"id": "dead-holder-0001", "holder": "carol@gone", "operation": "deploy", "ttlSeconds": 5}"#.utf8),
                                                    headers: [("Content-Type", "application/json")])
                #expect(taken.status == .ok, "\(taken.text)")
            }
            let refused = try await fleet.drover("scale", "web", "3")
            #expect(refused.status == 1 && refused.stderr.contains("web is being deployed by carol@gone"), "\(refused)")
            let lapsed = try await waitUntil(timeout: .seconds(15), interval: .milliseconds(200)) { try await lease(fleet) == nil }
            #expect(lapsed)
            let scaled = try await fleet.drover("scale", "web", "3")
            #expect(scaled.status == 0, "\(scaled)")

            // drover lock holds until drover unlock; it keeps everyone out, its holder included.
            let locked = try await fleet.drover("lock", "web", "-m", "incident 42")
            #expect(locked.status == 0 && locked.stdout.contains("locked") && locked.stdout.contains("incident 42"), "\(locked)")
            let blocked = try await fleet.drover("deploy", "web")
            #expect(blocked.status == 1 && blocked.stderr.contains("web is locked by ") && blocked.stderr.contains("incident 42"), "\(blocked)")
            #expect(try await lease(fleet)?.expiresAt == nil, "a lock does not lapse")
            let unlocked = try await fleet.drover("unlock", "web")
            #expect(unlocked.status == 0 && unlocked.stdout.contains("unlocked"), "\(unlocked)")
            #expect(try await fleet.drover("scale", "web", "2").status == 0)

            // Someone else's lock: only --force breaks it, and history says so.
            for agent in fleet.agents {
                _ = try await agent.request(.PUT, "/v1/services/web/lease", body: Data(#"{"id": "bobs-lock-000001", "holder": "bob@elsewhere", "operation": "lock", "message": "freeze"}"#.utf8),
                                            headers: [("Content-Type", "application/json")])
            }
            let notMine = try await fleet.drover("unlock", "web")
            #expect(notMine.status == 1 && notMine.stdout.contains("bob@elsewhere"), "\(notMine)")
            let forced = try await fleet.drover("lock", "web", "--force", "-m", "taking over")
            #expect(forced.status == 0, "\(forced)")
            let history = try await fleet.drover("history", "web")
            #expect(history.stdout.contains("lease.broken") && history.stdout.contains("bob@elsewhere"), "\(history)")
            #expect(try await fleet.drover("unlock", "web").status == 0)
            #expect(try await lease(fleet) == nil)
        }
    }
}
