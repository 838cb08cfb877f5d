import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// Schema-driven attacks: schemathesis generates requests from `openapi.json` against a live
/// agent over TLS, with no token and with tokens of each scope. No answer is a 5xx; every
/// answer is one the document promises (status, content type, body); requests the document
/// calls invalid are refused; and requests beyond a token's scope or schema change nothing:
/// the store, the unit directory and the release files are compared before and after.
// The CPU to itself: thousands of generated requests on 2 cores would slow the suites beside it
// past their deadlines (measured: log follows noticed a closed client after more than 70 s).
// The limit covers the wait for the CPU (the whole parallel phase; see HostCPUGate).
@Suite(.userManagerWithTheCPUToItself, .serialized, .timeLimit(.minutes(20)))
struct SchemaAttackTests {
    /// Fixed, so a failure can be replayed; each run adds a fresh one too, printed.
    static let fixedSeed = 20_261_207

    /// schemathesis from the virtual environment `Tests/run.sh` makes (`DROVER_SCHEMATHESIS`).
    static var schemathesis: String? {
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let path = ProcessInfo.processInfo.environment["DROVER_SCHEMATHESIS"] ?? checkout + "/.build-venv/bin/schemathesis"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/DroverAPI/openapi.json").path

    /// Streams that end only when their deployment does, or never (`follow=true`), and runs,
    /// which would execute generated commands: not sent as valid requests.
    static let endless = ["getLogs", "followDeployment"]

    @Test func generatedRequestsGetDocumentedAnswersAndChangeNothingTheyMayNot() async throws {
        guard let schemathesis = Self.schemathesis else {
            Issue.record("schemathesis is not installed: run Tests/run.sh, which installs it into .build-venv (or set DROVER_SCHEMATHESIS)")
            return
        }
        let bed = try Bed.require()
        let agent = try await bed.agent(tls: true)
        // Something to read: a service with a release, instances and a finished deployment.
        let service = "web"
        #expect(try await agent.upload(service, "1", artifact: AgentLifecycleTests.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        #expect(try await agent.scale(service, to: 1).status == .ok)
        let tokens = [("read", try await agent.addToken("attack-read", scope: "read")),
                      ("deploy", try await agent.addToken("attack-deploy", scope: "deploy")),
                      ("admin", try await agent.addToken("attack-admin", scope: "admin"))]
        let fresh = Int.random(in: 1...999_999_999)
        print("schemathesis seeds: fixed \(Self.fixedSeed), fresh \(fresh)")

        func attack(_ label: String, token: String?, mode: String, seed: Int, exclude: [String] = [], checks: [String]) async throws -> (status: Int32, output: String) {
            var arguments = ["run", Self.document, "--url", agent.baseURL, "--tls-verify", agent.certificatePath, "--mode", mode,
                             "--seed", "\(seed)", "--max-examples", "8", "--workers", "1", "--request-timeout", "10",
                             "--checks", checks.joined(separator: ","), "--no-shrink", "--warnings", "off"]
            if let token { arguments += ["--header", "Authorization: Bearer \(token)"] }
            for operation in exclude { arguments += ["--exclude-operation-id", operation] }
            let output = bed.manager.root + "/schemathesis-\(label)-\(seed).log"
            let child = try ChildProcess.spawn(schemathesis, arguments, environment: ["PATH": "/usr/bin:/bin", "HOME": bed.manager.root, "LANG": "C.UTF-8", "NO_COLOR": "1"], output: output)
            let status = await child.wait()
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            let summary = text.split(separator: "\n").suffix(12).joined(separator: "\n")
            print("schemathesis \(label) (mode \(mode), seed \(seed)): exit \(status)\n\(summary)")
            return (status, text)
        }
        let conformance = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance"]

        for seed in [Self.fixedSeed, fresh] {
            // Beyond their scope, or invalid: nothing changes.
            let before = try await agent.hostState()
            let none = try await attack("no-token", token: nil, mode: "all", seed: seed, exclude: Self.endless, checks: conformance)
            #expect(none.status == 0, "\(none.output.suffix(4000))")
            let read = try await attack("read", token: tokens[0].1, mode: "all", seed: seed, exclude: Self.endless, checks: conformance)
            #expect(read.status == 0, "\(read.output.suffix(4000))")
            let invalid = try await attack("deploy-negative", token: tokens[1].1, mode: "negative", seed: seed, exclude: Self.endless,
                                           checks: conformance + ["negative_data_rejection"])
            #expect(invalid.status == 0, "\(invalid.output.suffix(4000))")
            #expect(try await agent.hostState() == before, "no token, a read token, and invalid requests changed nothing")
        }
        // Valid requests with every right: still only documented answers, and no 5xx.
        let admin = try await attack("admin-positive", token: tokens[2].1, mode: "positive", seed: Self.fixedSeed,
                                     exclude: Self.endless + ["startRun"], checks: conformance)
        #expect(admin.status == 0, "\(admin.output.suffix(4000))")
        #expect(try await agent.request(.GET, "/v1/health", authorized: false).status == .ok, "the agent still answers")
        await agent.stop()
    }
}
