import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Testing

/// Abuse of the connection itself, from outside, while a normal client keeps asking: 500
/// slowloris connections over TLS (a header byte every 10 s), stalled TLS handshakes, a header
/// over the limit, and a body that stops. None of them may hold the agent:
/// the idle timeout (15 s) closes the quiet ones, and the normal client is served throughout.
/// Log follows that are never read are ended after the send timeout.
// The CPU to itself: 500 TLS handshakes on 2 cores beside the other suites would measure the
// machine's load, not the agent's defences.
// The limit covers the wait for the CPU (the whole parallel phase; see HostCPUGate).
@Suite(.userManagerWithTheCPUToItself, .serialized, .timeLimit(.minutes(20)))
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

    /// Clients that open a log follow of a chatty service and never read: once their buffers
    /// are full, the agent gives up on them after `send_timeout_seconds` and their places under
    /// `max_log_followers` come back, while a normal client is answered throughout.
    @Test func followsThatAreNeverReadAreEndedAndGiveTheirPlacesBack() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(extraConfig: "send_timeout_seconds = 5\nmax_log_followers = 2")
        defer { Task { await agent.stop() } }
        let client = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token, timeout: .seconds(20))
        let service = try ServiceName(uniqueService("chatty"))
        let script = "while :; do seq 1 50 | sed 's/^/a line long enough to fill buffers quickly, padded out to about a hundred bytes: /'; sleep 0.1; done"
        _ = try await client.upload(service, try ReleaseVersion("1"), file: "/bin/sh", spec: ServiceSpec(binary: "sh", arguments: ["-c", script]))
        _ = try await client.scale(service, to: 1)

        // Two follows that read nothing, with small receive buffers: they hold both places.
        var stalled: [Int32] = []
        defer { stalled.forEach { close($0) } }
        for _ in 0..<2 {
            stalled.append(try Self.openUnreadFollow(port: agent.port, path: "/v1/services/\(service)/logs?follow=true&lines=0", token: agent.token))
        }
        // Both are answered (peeked at, not read: their buffers still fill).
        for fd in stalled {
            var reader = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&reader, 1, 10_000)
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_PEEK))
            #expect(String(decoding: buffer.prefix(max(0, count)), as: UTF8.self).hasPrefix("HTTP/1.1 200"), "an unread follow is served")
        }
        let refused = await waitUntil(timeout: .seconds(10)) {
            do {
                for try await _ in client.followLogs(of: service, lines: 1) { return false }
                return false
            } catch let error as AgentClientError {
                return error.kind == .agent(status: 429, code: "too_many_followers")
            } catch { return false }
        }
        #expect(refused, "the two unread follows hold both places at first")

        // Their buffers fill within a second or two; 5 s later the agent gives up on them.
        let served = await waitUntil(timeout: .seconds(60), interval: .milliseconds(500)) {
            let health = try? await agent.request(.GET, "/v1/health", authorized: false)
            #expect(health?.status == .ok, "a normal client is answered meanwhile")
            let probe = Task {
                for try await _ in client.followLogs(of: service, lines: 5) { return true }
                return false
            }
            defer { probe.cancel() }
            return (try? await probe.value) ?? false
        }
        #expect(served, "a follow is served again: the unread ones were ended")
        // Their connections were closed by the agent: what it had sent, then the end.
        for fd in stalled {
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var result = 0
            repeat { result = recv(fd, &buffer, buffer.count, 0) } while result > 0
            #expect(result == 0 || errno == ECONNRESET, "the agent closed the unread follow (recv: \(result), errno \(errno))")
        }
        #expect(agent.log.contains("closing the connection of a client that stopped taking a streamed answer"), "\(agent.log.suffix(2000))")
        #expect(agent.log.contains("the client took nothing for 5 s"), "the log says why")
    }

    /// A plain-HTTP connection with a 4 KiB receive buffer that asks for `path` and then
    /// never reads; the caller closes it.
    static func openUnreadFollow(port: Int, path: String, token: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw AgentTestError("socket: \(errno)") }
        var size: Int32 = 4_096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw AgentTestError("connect: \(errno)") }
        let request = "GET \(path) HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer \(token)\r\n\r\n"
        guard request.utf8.withContiguousStorageIfAvailable({ write(fd, $0.baseAddress, $0.count) }) == request.utf8.count else {
            close(fd); throw AgentTestError("write: \(errno)")
        }
        return fd
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
