import DroverAPI
import DroverTestbed
import Foundation
import Testing

/// Abuse of the connection itself, from outside, while a normal client keeps asking: 500
/// slowloris connections over TLS (a header byte every 10 s), stalled TLS handshakes, a header
/// over the limit, and a body that stops. None of them may hold the agent:
/// the idle timeout (15 s) closes the quiet ones, and the normal client is served throughout.
// The CPU to itself: 500 TLS handshakes on 2 cores beside the other suites would measure the
// machine's load, not the agent's defences.
@Suite(.userManagerWithTheCPUToItself, .serialized, .timeLimit(.minutes(4)))
struct ConnectionAbuseTests {
    /// Opens the abusive connections and reports, as JSON, how many opened and when the agent
    /// closed each.
    static let script = #"""
        import json, socket, ssl, sys, time
        host, port, slow, stalled, bodies, duration, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
        start = time.time()
        header = b"GET /v1/health HTTP/1.1\r\nHost: agent\r\nX-Slow: " + b"a" * 100000
        conns = []
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        for i in range(slow):
            s = context.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname=host)
            s.setblocking(False)
            conns.append({"socket": s, "sent": 0, "closed": None, "kind": "slowloris", "opened": time.time()})
        for i in range(stalled):
            s = socket.create_connection((host, port), timeout=5)
            s.setblocking(False)
            conns.append({"socket": s, "sent": 0, "closed": None, "kind": "stalled", "opened": time.time()})
        for i in range(bodies):
            s = context.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname=host)
            s.sendall(b"PUT /v1/services/web/scale HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inst")
            s.setblocking(False)
            conns.append({"socket": s, "sent": 0, "closed": None, "kind": "body", "opened": time.time()})
        def alive(c):
            try:
                data = c["socket"].recv(65536)
                if data == b"":
                    return False
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            except OSError:
                return False
            return True
        with open(out + ".opened", "w") as f:
            f.write("%d" % len(conns))
        start = time.time()
        next_byte = start
        while time.time() - start < duration:
            now = time.time()
            for c in conns:
                if c["closed"] is None and not alive(c):
                    c["closed"] = now - c["opened"]
            if now >= next_byte:
                for c in conns:
                    if c["closed"] is None and c["kind"] == "slowloris":
                        try:
                            c["socket"].send(header[c["sent"]:c["sent"] + 1])
                            c["sent"] += 1
                        except OSError:
                            c["closed"] = now - c["opened"]
                next_byte = now + 10
            if all(c["closed"] is not None for c in conns):
                break
            time.sleep(0.2)
        lifetimes = {}
        for c in conns:
            if c["closed"] is not None:
                lifetimes.setdefault(c["kind"], []).append(c["closed"])
        result = {"opened": len(conns), "lifetimes": lifetimes, "open": sum(1 for c in conns if c["closed"] is None)}
        with open(out, "w") as f:
            json.dump(result, f)
        """#

    struct Report: Decodable {
        let opened: Int
        /// By kind (slowloris, stalled, body): seconds from its opening to the agent closing it.
        let lifetimes: [String: [Double]]
        let open: Int
    }

    @Test func slowlorisStalledHandshakesBigHeadersAndStoppedBodiesDoNotHoldTheAgent() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(tls: true)
        let work = bed.manager.root + "/abuse-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let abuser = try ChildProcess.spawn("/usr/bin/python3", ["-c", Self.script, "127.0.0.1", "\(agent.port)", "500", "5", "5", "40", work + "/report"],
                                            output: work + "/log")

        // Once every abusive connection is open, a normal client asks every 250 ms, each answer within 2 s.
        #expect(await waitUntil(timeout: .seconds(90), interval: .milliseconds(100)) { FileManager.default.fileExists(atPath: work + "/report.opened") },
                "the abusing client opened its connections: \((try? String(contentsOfFile: work + "/log", encoding: .utf8)) ?? "")")
        var served = 0, failures: [String] = [], slowest: Duration = .zero
        let clock = ContinuousClock(), until = clock.now + .seconds(25)
        while clock.now < until {
            let began = clock.now
            do {
                let reply = try await Self.within(.seconds(2)) { try await agent.request(.GET, "/v1/services") }
                if reply.status == .ok { served += 1 } else { failures.append("HTTP \(reply.status.code)") }
            } catch {
                failures.append("\(error)")
            }
            slowest = max(slowest, clock.now - began)
            try await Task.sleep(for: .milliseconds(250))
        }

        // A header over the limit is refused.
        let oversized = try? await agent.request(.GET, "/v1/services", headers: [("X-Big", String(repeating: "a", count: 200_000))])
        #expect(oversized.map { [431, 400, 413].contains(Int($0.status.code)) } ?? true, "refused, or the connection closed: \(String(describing: oversized?.status))")

        _ = await abuser.wait()
        guard let data = FileManager.default.contents(atPath: work + "/report") else {
            Issue.record("the abusing client wrote no report: \((try? String(contentsOfFile: work + "/log", encoding: .utf8)) ?? "")")
            await agent.stop()
            return
        }
        let report = try JSONDecoder().decode(Report.self, from: data)
        let spans = report.lifetimes.mapValues { "\(String(format: "%.1f", $0.min() ?? 0))–\(String(format: "%.1f", $0.max() ?? 0)) s (\($0.count))" }
        print("connection abuse: \(report.opened) opened; closed by the agent after \(spans); normal client \(served) answers, \(failures.count) failures, slowest \(slowest)")
        #expect(report.opened == 510, "every abusive connection was accepted (under max_connections, 512)")
        #expect(report.open == 0, "the agent closed them all")
        for (kind, lifetimes) in report.lifetimes {
            #expect(lifetimes.allSatisfy { $0 >= 14 && $0 <= 21 }, "\(kind): closed at the idle timeout (15 s): \(spans[kind] ?? "")")
        }
        #expect(failures.isEmpty, "the normal client was served throughout: \(failures.prefix(3))")
        #expect(served >= 50, "\(served)")
        #expect(try await agent.request(.GET, "/v1/health", authorized: false).status == .ok)
        await agent.stop()
    }

    /// `body`'s answer, or an error when it takes longer than `limit`.
    static func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask { try await Task.sleep(for: limit); return nil }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw AgentTestError("no answer within \(limit)") }
            return value
        }
    }
}
