import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// `drover deploy --dry-run` through the real `drover` against three agents: it shows exactly
/// what the deploy that follows changes, host by host, and changes nothing itself.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct DeployPlanTests {
    static func manifest(generation: Int, instances: Int) -> String {
        """
        artifact = "\(fixturePath)"
        binary = "web"
        type = "notify"
        instances = \(instances)

        [environment]
        GENERATION = "\(generation)"
        MODE = "prod"

        [secrets]
        DB_PASSWORD = { file = "secrets/db_password" }

        [rollout]
        min_healthy = "0.2s"
        batch = 3
        """
    }

    struct Plan: Decodable {
        struct Host: Decodable {
            struct Change: Decodable { let key: String; let from: String?; let to: String?; let secret: String? }
            struct Count: Decodable { let from: Int?; let to: Int? }
            let host: String
            let reachable: Bool
            let currentVersion: String?
            let targetVersion: String
            let holdsRelease: Bool
            let changes: [Change]
            let instances: Count?
            let upToDate: Bool
        }
        let version: String
        let hosts: [Host]
        let changes: Bool
    }

    @Test func thePlanShowsWhatTheDeployThenDoesAndChangesNothing() async throws {
        try await Fleet.run(hosts: 3) { fleet in
            try FileManager.default.createDirectory(atPath: fleet.repository + "/secrets", withIntermediateDirectories: true)
            let (first, second) = ("first-\(UUID().uuidString)", "second-\(UUID().uuidString)")
            try first.write(toFile: fleet.repository + "/secrets/db_password", atomically: true, encoding: .utf8)
            try fleet.writeManifest("web", Self.manifest(generation: 1, instances: 2))
            #expect(try await fleet.drover("deploy", "web").status == 0)
            let before = try await fleet.agents[0].request(.GET, "/v1/services/web").decode(ServiceInfo.self)

            try second.write(toFile: fleet.repository + "/secrets/db_password", atomically: true, encoding: .utf8)
            try fleet.writeManifest("web", Self.manifest(generation: 2, instances: 3))
            func states() async throws -> [[String]] {
                var states: [[String]] = []
                for agent in fleet.agents {
                    let events = try await agent.request(.GET, "/v1/events?service=web&limit=10000").decode([EventInfo].self).map { "\($0.id) \($0.kind)" }
                    states.append(try await agent.hostState() + events)
                }
                return states
            }
            let untouched = try await states()
            let json = try await fleet.drover("--json", "deploy", "web", "--dry-run", "--detailed-exitcode")
            #expect(json.status == 2, "changes: exit 2 with --detailed-exitcode: \(json)")
            let plan = try json.json(Plan.self)
            let human = try await fleet.drover("deploy", "web", "--dry-run", "--no-build")
            #expect(human.status == 0, "\(human)")
            #expect(try await states() == untouched, "a plan uploads nothing and changes nothing")

            #expect(plan.changes && plan.hosts.map(\.host) == ["host-1", "host-2", "host-3"])
            for host in plan.hosts {
                #expect(host.reachable && !host.upToDate && !host.holdsRelease && host.currentVersion == before.currentVersion?.rawValue, "\(host)")
                #expect(host.instances?.from == 2 && host.instances?.to == 3)
                #expect(Set(host.changes.filter { $0.secret != "unchanged" }.map(\.key)) == ["environment.GENERATION", "secrets.DB_PASSWORD"], "\(host.changes)")
                let generation = host.changes.first { $0.key == "environment.GENERATION" }
                #expect(generation?.from == "\"1\"" && generation?.to == "\"2\"")
                #expect(host.changes.first { $0.key == "secrets.DB_PASSWORD" }?.secret == "changed")
            }
            #expect(human.stdout.contains("environment.GENERATION: \"1\" → \"2\"") && human.stdout.contains("secrets.DB_PASSWORD: changed")
                    && human.stdout.contains("instances: 2 → 3") && human.stdout.contains("Plan: 3 hosts to change"), "\(human)")
            for secret in [first, second] { #expect(!json.stdout.contains(secret) && !human.stdout.contains(secret) && !human.stderr.contains(secret)) }

            // The deploy that follows does exactly that.
            #expect(try await fleet.drover("deploy", "web").status == 0)
            for agent in fleet.agents {
                let info = try await agent.request(.GET, "/v1/services/web").decode(ServiceInfo.self)
                #expect(info.currentVersion?.rawValue == plan.version && info.desiredInstances == 3)
                let old = try #require(info.releases.first { $0.version == before.currentVersion }).spec
                let new = try #require(info.releases.first { $0.current }).spec
                #expect(old.environment.filter { new.environment[$0.key] != $0.value }.keys.sorted() == ["GENERATION"])
                #expect(old.secrets["DB_PASSWORD"] != new.secrets["DB_PASSWORD"])
                var same = new
                same.environment = old.environment
                same.secrets = old.secrets
                #expect(same == old, "nothing else changed")
            }
            let after = try await fleet.drover("deploy", "web", "--dry-run", "--no-build", "--detailed-exitcode")
            #expect(after.status == 0 && after.stdout.contains("up to date") && after.stdout.contains("Plan: 0 hosts to change"), "\(after)")

            // A host that cannot be reached is named, and the plan exits 3.
            let inventory = try String(contentsOfFile: fleet.repository + "/deploy/hosts.toml", encoding: .utf8)
                + "\n[hosts.host-4]\naddress = \"127.0.0.1\"\nport = 1\nplaintext = true\ntoken_file = \"tokens/host-1\"\n"
            try inventory.write(toFile: fleet.repository + "/deploy/hosts-plus.toml", atomically: true, encoding: .utf8)
            let partial = try await fleet.drover("--inventory", "deploy/hosts-plus.toml", "deploy", "web", "--dry-run", "--no-build")
            #expect(partial.status == 3 && partial.stdout.contains("host-4: cannot tell: unreachable") && partial.stdout.contains("1 unreachable"), "\(partial)")
        }
    }
}
