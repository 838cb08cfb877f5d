import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// The handoff without a proxy: during a rolling deploy of a service that `listen`s, every
/// instance of both releases accepts on one socket, and a client hammering it from another
/// process sees no failed request while its answers switch from v1 to v2.
@Suite(.userManager, .timeLimit(.minutes(3)))
struct ZeroDowntimeTests {
    /// A client in another process: GET / in a loop until told to stop; writes what it saw.
    static let client = """
        import http.client, json, os, sys, time
        port, stop, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        ok, failed, versions, errors, sequence = 0, 0, {}, [], []
        deadline = time.time() + 150
        while not os.path.exists(stop) and time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/")
                response = connection.getresponse()
                body = response.read().decode()
                connection.close()
                if response.status == 200:
                    ok += 1
                    version = body.split("version=")[1].split()[0]
                    versions[version] = versions.get(version, 0) + 1
                    if not sequence or sequence[-1] != version:
                        sequence.append(version)
                else:
                    failed += 1
                    errors.append("HTTP %d" % response.status)
            except Exception as error:
                failed += 1
                errors.append(repr(error))
            if ok % 25 == 1:
                with open(out + ".progress", "w") as f:
                    json.dump(versions, f)
        with open(out, "w") as f:
            json.dump({"ok": ok, "failed": failed, "versions": versions, "errors": errors[:10], "sequence": sequence}, f)
        """

    struct Result: Decodable {
        let ok: Int
        let failed: Int
        let versions: [String: Int]
        let errors: [String]
        let sequence: [String]
    }

    @Test func aRollingDeployUnderLoadFailsNoRequest() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("live")
        let port = try freeLoopbackPort()
        let spec = #"{"binary": "web", "type": "notify", "listen": "127.0.0.1:\#(port)"}"#
        #expect(try await agent.upload(service, "1", artifact: AgentLifecycleTests.fixture, spec: spec).status == .created)
        #expect(try await agent.upload(service, "2", artifact: AgentLifecycleTests.fixture, spec: spec).status == .created)
        let scaled = try await agent.scale(service, to: 4)
        #expect(scaled.status == .ok, "\(scaled.text)")
        let units = try FileManager.default.contentsOfDirectory(atPath: bed.manager.unitDirectory)
        #expect(units.contains("drover-\(service).socket"))

        let work = bed.manager.root + "/\(service)-client"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let client = try ChildProcess.spawn("/usr/bin/env", ["python3", "-c", Self.client, "\(port)", work + "/stop", work + "/result"],
                                            output: work + "/log")
        let progress = { () -> [String: Int] in
            (try? JSONDecoder().decode([String: Int].self, from: Data(contentsOf: URL(fileURLWithPath: work + "/result.progress")))) ?? [:]
        }
        #expect(await waitUntil { progress()["1"] != nil }, "the client reaches v1")

        let deployment = try await agent.deploy(service, #"{"version": "2", "strategy": {"maxSurge": 1, "maxUnavailable": 0, "minHealthySeconds": 0.3}}"#)
            .decode(DeploymentInfo.self)
        #expect(try await agent.finished(deployment).state == .succeeded)
        #expect(await waitUntil { (progress()["2"] ?? 0) > 25 }, "the client reaches v2")

        #expect(FileManager.default.createFile(atPath: work + "/stop", contents: nil))
        #expect(await client.wait() == 0)
        let result = try JSONDecoder().decode(Result.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/result")))
        print("zero-downtime handoff: \(result.ok) requests, \(result.failed) failed, by version \(result.versions)")
        #expect(result.failed == 0, "failed requests: \(result.errors)")
        #expect(result.ok > 100, "enough traffic to mean something: \(result.ok)")
        #expect(result.versions.keys.sorted() == ["1", "2"])
        #expect(result.sequence.last == "2", "it ends on v2: \(result.sequence)")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        let left = try FileManager.default.contentsOfDirectory(atPath: bed.manager.unitDirectory).filter { $0.contains(service) }
        #expect(left.isEmpty, "socket and holder are removed with the service: \(left)")
        await agent.stop()
    }
}
