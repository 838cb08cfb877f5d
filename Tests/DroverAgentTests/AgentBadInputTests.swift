import AsyncHTTPClient
import DroverAPI
import DroverTestbed
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Every kind of bad input gets its own status and error code, and leaves the host exactly
/// as it was: the store's rows, the unit directory and every file of the state directory.
/// Serialized, with a manager of its own: "the unit directory is unchanged" must not see
/// other tests' units come and go.
@Suite(.userManager, .serialized, .timeLimit(.minutes(10)))
struct AgentBadInputTests {
    static let fixture = AgentLifecycleTests.fixture

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let status: HTTPResponseStatus
        let code: String
        let send: @Sendable (AgentProcess, String) async throws -> AgentProcess.Reply
        var testDescription: String { name }
    }

    static func tarball(_ entries: [Tarball.Entry]) -> @Sendable (AgentProcess, String) async throws -> AgentProcess.Reply {
        { agent, service in try await agent.upload(service, "9", artifact: try await Tarball.make(entries)) }
    }

    static let cases: [Case] = [
        Case(name: "invalid service name", status: .badRequest, code: "invalid_name") { agent, _ in
            try await agent.upload("Bad_Name", "1", artifact: Data("x".utf8))
        },
        Case(name: "invalid version", status: .badRequest, code: "invalid_name") { agent, service in
            try await agent.upload(service, "-1", artifact: Data("x".utf8))
        },
        Case(name: "digest mismatch", status: .unprocessableEntity, code: "digest_mismatch") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, digest: contentDigest(of: Data("other".utf8)))
        },
        Case(name: "missing digest", status: .badRequest, code: "missing_digest") { agent, service in
            try await agent.request(.PUT, "/v1/services/\(service)/releases/9", body: fixture)
        },
        Case(name: "malformed digest", status: .badRequest, code: "invalid_digest") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, digest: "sha-256=:not base64:")
        },
        Case(name: "body over the limit", status: .payloadTooLarge, code: "too_large") { agent, service in
            try await agent.upload(service, "9", artifact: Data(count: 21 << 20))
        },
        Case(name: "body over the limit, chunked", status: .payloadTooLarge, code: "too_large") { agent, service in
            var request = HTTPClientRequest(url: agent.baseURL + "/v1/services/\(service)/releases/9")
            request.method = .PUT
            request.headers.add(name: "Authorization", value: "Bearer \(agent.token)")
            request.headers.add(name: "Content-Digest", value: contentDigest(of: Data("x".utf8)))
            let chunks = (0..<30).map { _ in ByteBuffer(repeating: 0, count: 1 << 20) }
            request.body = .stream(chunks.async, length: .unknown)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 1 << 20)
            return AgentProcess.Reply(status: response.status, body: Data(buffer: body))
        },
        Case(name: "tarball with ../", status: .unprocessableEntity, code: "unsafe_tarball",
             send: tarball([.file("../x", Data("x".utf8))])),
        Case(name: "tarball with an absolute path", status: .unprocessableEntity, code: "unsafe_tarball",
             send: tarball([.file("/etc/x", Data("x".utf8))])),
        Case(name: "tarball with a symlink to /", status: .unprocessableEntity, code: "unsafe_tarball",
             send: tarball([.symlink("root", target: "/"), .file("web", Data("#!/bin/sh\n".utf8), executable: true)])),
        Case(name: "tarball with a symlink climbing out", status: .unprocessableEntity, code: "unsafe_tarball",
             send: tarball([.directory("a"), .symlink("a/up", target: "../../etc")])),
        Case(name: "tarball with a device node", status: .unprocessableEntity, code: "unsafe_tarball",
             send: tarball([.characterDevice("dev/null")])),
        Case(name: "tarball without the executable", status: .unprocessableEntity, code: "binary_missing",
             send: tarball([.file("README", Data("no binary here".utf8))])),
        Case(name: "not a tarball but gzip", status: .unprocessableEntity, code: "invalid_tarball") { agent, service in
            try await agent.upload(service, "9", artifact: Data([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02]))
        },
        Case(name: "env value with a newline", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture,
                                   spec: #"{"binary": "web", "environment": {"A": "x\nExecStartPre=/bin/false"}}"#)
        },
        Case(name: "spec that is not JSON", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: "binary = web")
        },
        Case(name: "same version, other content", status: .conflict, code: "version_conflict") { agent, service in
            try await agent.upload(service, "1", artifact: Data("different".utf8))
        },
        Case(name: "unknown service", status: .notFound, code: "unknown_service") { agent, _ in
            try await agent.scale("no-such-service", to: 1)
        },
        Case(name: "negative instances", status: .badRequest, code: "invalid_instances") { agent, service in
            try await agent.scale(service, to: -1)
        },
        Case(name: "absurd instances", status: .badRequest, code: "invalid_instances") { agent, service in
            try await agent.scale(service, to: 1_000_000)
        },
        Case(name: "scale body that is not JSON", status: .badRequest, code: "invalid_body") { agent, service in
            try await agent.request(.PUT, "/v1/services/\(service)/scale", body: Data("three".utf8))
        },
        Case(name: "no token", status: .unauthorized, code: "unauthorized") { agent, service in
            try await agent.request(.DELETE, "/v1/services/\(service)", authorized: false)
        },
        Case(name: "wrong token", status: .unauthorized, code: "unauthorized") { agent, service in
            try await agent.request(.DELETE, "/v1/services/\(service)", token: String(agent.token.reversed()))
        },
        Case(name: "unknown route", status: .notFound, code: "not_found") { agent, _ in
            try await agent.request(.GET, "/v1/nothing-here")
        },

        // Numbers no range allows: each once trapped the agent or reached arithmetic that did.
        Case(name: "autoscale interval of 1e300 s", status: .badRequest, code: "invalid_policy") { agent, service in
            try await json(agent, .PUT, "/v1/services/\(service)/autoscale", #"{"min": 1, "max": 2, "cpu": 0.5, "intervalSeconds": 1e300}"#)
        },
        Case(name: "autoscale cpu target of 1e-300 cores", status: .badRequest, code: "invalid_policy") { agent, service in
            try await json(agent, .PUT, "/v1/services/\(service)/autoscale", #"{"min": 1, "max": 2, "cpu": 1e-300}"#)
        },
        Case(name: "autoscale maxStepUp of Int.max", status: .badRequest, code: "invalid_policy") { agent, service in
            try await json(agent, .PUT, "/v1/services/\(service)/autoscale", #"{"min": 1, "max": 2, "cpu": 0.5, "maxStepUp": 9223372036854775807}"#)
        },
        Case(name: "autoscale window of 1e300 s", status: .badRequest, code: "invalid_policy") { agent, service in
            try await json(agent, .PUT, "/v1/services/\(service)/autoscale", #"{"min": 1, "max": 2, "cpu": 0.5, "scaleDownStabilizationSeconds": 1e300}"#)
        },
        Case(name: "deployment deadline of 1e300 s", status: .badRequest, code: "invalid_strategy") { agent, service in
            try await agent.deploy(service, #"{"version": "1", "strategy": {"deadlineSeconds": 1e300}}"#)
        },
        Case(name: "deployment minHealthy of 1e300 s", status: .badRequest, code: "invalid_strategy") { agent, service in
            try await agent.deploy(service, #"{"version": "1", "strategy": {"minHealthySeconds": 1e300, "deadlineSeconds": 1e301}}"#)
        },
        Case(name: "deployment maxSurge near Int.max", status: .badRequest, code: "invalid_strategy") { agent, service in
            try await agent.deploy(service, #"{"version": "1", "strategy": {"maxSurge": 9223372036854775807, "maxUnavailable": 1}}"#)
        },
        Case(name: "deployment of Int.max instances", status: .badRequest, code: "invalid_strategy") { agent, service in
            try await agent.deploy(service, #"{"version": "1", "instances": 9223372036854775807}"#)
        },
        Case(name: "rollback strategy of -1e300 s", status: .badRequest, code: "invalid_strategy") { agent, service in
            try await json(agent, .POST, "/v1/services/\(service)/rollback", #"{"strategy": {"minHealthySeconds": -1e300}}"#)
        },
        Case(name: "live resize to UInt64.max bytes", status: .badRequest, code: "invalid_limits") { agent, service in
            try await json(agent, .PUT, "/v1/services/\(service)/limits", #"{"memoryBytes": 18446744073709551615}"#)
        },

        // Client mistakes that were answered with a 500.
        Case(name: "events of an invalid service name", status: .badRequest, code: "invalid_name") { agent, _ in
            try await agent.request(.GET, "/v1/events?service=Not_A_Name")
        },
        Case(name: "events with a limit that is not a number", status: .badRequest, code: "invalid_query") { agent, _ in
            try await agent.request(.GET, "/v1/events?limit=lots")
        },
        Case(name: "a 300-character binary", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: #"{"binary": "\#(String(repeating: "b", count: 300))"}"#)
        },
        Case(name: "a binary of 3000 path components", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: #"{"binary": "\#(String(repeating: "d/", count: 3000))web"}"#)
        },
        Case(name: "a body shorter than its Content-Length, then a half-close", status: .badRequest, code: "truncated") { agent, service in
            let answer = try RawHTTP.sendHalfClosed(port: agent.port, head: """
                PUT /v1/services/\(service)/releases/9 HTTP/1.1\r
                Host: 127.0.0.1\r
                Authorization: Bearer \(agent.token)\r
                Content-Digest: \(contentDigest(of: fixture))\r
                Content-Length: \(fixture.count)\r
                \r

                """, bodyBytes: 1000)
            return AgentProcess.Reply(status: HTTPResponseStatus(statusCode: answer.status), body: answer.body)
        },

        // Spec values systemd would refuse or misread.
        Case(name: "listen on a host name", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: #"{"binary": "web", "listen": "localhost:18081"}"#)
        },
        Case(name: "listen on a port with a leading zero", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: #"{"binary": "web", "listen": "0.0.0.0:018082"}"#)
        },
        Case(name: "listen on a:b:c:80", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: #"{"binary": "web", "listen": "a:b:c:80"}"#)
        },
        Case(name: "env value with a noncharacter", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: #"{"binary": "web", "environment": {"A": "x\uFFFEy"}}"#)
        },
        Case(name: "sandbox value ending in a backslash with a mark", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: #"{"binary": "web", "sandbox": {"ProtectHome": "read-only\\\u0301"}}"#)
        },

        // Tarballs that reach outside the release or grow past the limits.
        Case(name: "tarball with a chain of links out", status: .unprocessableEntity, code: "unsafe_tarball",
             send: tarball([.directory("d"), .directory("d/e"), .symlink("d/e/u", target: "../.."),
                            .symlink("d/e/esc", target: "u/../../tmp/X"), .file("web", Data("#!/bin/sh\n".utf8), executable: true)])),
        Case(name: "tarball with a hard link through a symlink", status: .unprocessableEntity, code: "unsafe_tarball",
             send: tarball([.symlink("up", target: "."), .file("f", Data("x".utf8)), .hardlink("h", target: "up/f"),
                            .file("web", Data("#!/bin/sh\n".utf8), executable: true)])),
        Case(name: "tarball with a 300-byte name", status: .unprocessableEntity, code: "unsafe_tarball",
             send: tarball([.file(String(repeating: "n", count: 300), Data("x".utf8)), .file("web", Data("#!/bin/sh\n".utf8), executable: true)])),
        Case(name: "sandbox key equal to a directive only as Unicode text (KELVIN SIGN)", status: .badRequest, code: "invalid_spec") { agent, service in
            try await agent.upload(service, "9", artifact: fixture, spec: #"{"binary": "web", "sandbox": {"\u212AeyringMode": null}}"#)
        },
        Case(name: "tarball with more entries than allowed", status: .payloadTooLarge, code: "too_many_entries",
             send: tarball((0..<60).map { .file("f\($0)", Data("x".utf8)) })),
        Case(name: "decompression bomb, one entry", status: .payloadTooLarge, code: "too_large",
             send: tarball([.file("web", Data(count: 64 << 20), executable: true)])),
        Case(name: "decompression bomb, many entries", status: .payloadTooLarge, code: "too_large",
             send: tarball((0..<3).map { .file("part\($0)", Data(count: 4 << 20)) } + [.file("web", Data("#!/bin/sh\n".utf8), executable: true)])),
    ]

    static func json(_ agent: AgentProcess, _ method: HTTPMethod, _ path: String, _ body: String) async throws -> AgentProcess.Reply {
        try await agent.request(method, path, body: Data(body.utf8), headers: [("Content-Type", "application/json")])
    }

    @Test func badInputIsRefusedAndChangesNothing() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(extraConfig: """
            max_upload_bytes = \(20 << 20)
            max_unpacked_bytes = \(8 << 20)
            max_unpacked_entries = 50
            max_instances = 50
            """)
        let service = uniqueService("bad")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "web"}"#).status == .created)
        #expect(try await agent.scale(service, to: 1).status == .ok)
        let before = try await agent.hostState()
        #expect(before.contains { $0.hasPrefix("releases:") })

        for bad in Self.cases {
            let reply = try await bad.send(agent, service)
            #expect(reply.status == bad.status, "\(bad.name): \(reply.status) \(reply.text)")
            #expect(reply.errorCode == bad.code, "\(bad.name): \(reply.status) \(reply.text)")
            let message = try? JSONDecoder.droverAPI.decode(APIErrorBody.self, from: reply.body).error.message
            #expect((message?.count ?? 0) > 10, "\(bad.name): the error says what was wrong")
            #expect(!reply.text.contains(agent.stateDirectory) && !reply.text.contains("staging"),
                    "\(bad.name): the answer shows an internal path: \(reply.text)")
            let after = try await agent.hostState()
            #expect(after == before, "\(bad.name) changed the host's state")
        }
        #expect(agent.isRunning)
        await agent.stop()
    }

    /// A `listen` port another process holds: the scale or deploy that needs the socket is
    /// refused, saying why, and nothing starts; freed, the same request works.
    @Test func aSocketThatCannotListenFailsTheRequestAndChangesNothing() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("taken")
        let port = try freeLoopbackPort()
        let holder = try listeningLoopbackSocket(port: port)
        var held = true
        defer { if held { close(holder) } }
        let spec = #"{"binary": "web", "type": "notify", "listen": "127.0.0.1:\#(port)"}"#
        #expect(try await agent.upload(service, "1", artifact: Self.fixture, spec: spec).status == .created)
        #expect(try await agent.upload(service, "2", artifact: Self.fixture, spec: spec).status == .created)
        let before = try await agent.hostState()

        for reply in [try await agent.scale(service, to: 2), try await agent.deploy(service, #"{"version": "2", "instances": 1}"#)] {
            #expect(reply.status == .conflict && reply.errorCode == "socket_failed", "\(reply.status) \(reply.text)")
            #expect(reply.text.contains("127.0.0.1:\(port)"), "the answer names the address: \(reply.text)")
        }
        await #expect(try agent.hostState() == before)
        let instances = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(instances.isEmpty, "\(instances.map(\.unit))")
        let events = try await agent.request(.GET, "/v1/events?service=\(service)").decode([EventInfo].self)
        #expect(events.contains { $0.kind == "socket.failed" })

        close(holder)
        held = false
        let scaled = try await agent.scale(service, to: 1)
        #expect(scaled.status == .ok, "once the port is free the socket listens: \(scaled.text)")
        #expect(try await agent.request(.DELETE, "/v1/services/\(service)").status == .noContent)
        await agent.stop()
    }

    @Test func aConnectionCutMidUploadLeavesNothing() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("cut")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture).status == .created)
        let before = try await agent.hostState()

        try RawHTTP.sendTruncated(port: agent.port, head: """
            PUT /v1/services/\(service)/releases/2 HTTP/1.1\r
            Host: 127.0.0.1\r
            Authorization: Bearer \(agent.token)\r
            Content-Digest: \(contentDigest(of: Self.fixture))\r
            Content-Length: \(Self.fixture.count)\r
            \r

            """, bodyBytes: 100_000)
        // The agent notices the cut, says so, and cleans its staging area; nothing else may change.
        let noticed = await waitUntil { agent.log.contains("upload failed; nothing was kept") && agent.log.contains("version=2") }
        #expect(noticed, "the agent logs the failed upload: \(agent.log.suffix(2000))")
        let after = try await agent.hostState()
        #expect(after == before, "left behind: \(Set(after).symmetricDifference(before))")
        let releases = try await agent.request(.GET, "/v1/services/\(service)/releases").decode([ReleaseInfo].self)
        #expect(releases.map(\.version.rawValue) == ["1"])
        #expect(agent.isRunning)
        await agent.stop()
    }

    @Test func uploadingTheSameReleaseAgainChangesNothing() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let service = uniqueService("same")
        #expect(try await agent.upload(service, "1", artifact: Self.fixture).status == .created)
        let before = try await agent.hostState()
        let again = try await agent.upload(service, "1", artifact: Self.fixture)
        #expect(again.status == .ok, "\(again.text)")
        #expect(try again.decode(ReleaseInfo.self).sha256 == SHA256Digest.of(Self.fixture).map { String(format: "%02x", $0) }.joined())
        await #expect(try agent.hostState() == before)
        let otherSpec = try await agent.upload(service, "1", artifact: Self.fixture, spec: #"{"binary": "other"}"#)
        #expect(otherSpec.status == .conflict)
        #expect(otherSpec.errorCode == "spec_conflict")
        await agent.stop()
    }
}
