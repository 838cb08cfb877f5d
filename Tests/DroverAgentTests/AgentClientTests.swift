import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Synchronization
import Testing

/// The typed client against a real agent: uploads stream from a file, errors keep the agent's
/// code, an agent that is not there is `unreachable`, and the NDJSON routes stream.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct AgentClientTests {
    @Test func uploadsErrorsEventsAndLogs() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        let client = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token, timeout: .seconds(20))
        let service = try ServiceName(uniqueService("client"))
        let spec = ServiceSpec(binary: "web", arguments: ["--print", "client-line"], type: .notify)

        let first = try await client.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: spec)
        #expect(first.created && first.release.size == Int64(AgentLifecycleTests.fixture.count))
        let again = try await client.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: spec)
        #expect(!again.created, "the same upload again is a no-op")

        let missing = try await #require(throws: AgentClientError.self) { try await client.service(try ServiceName("no-such")) }
        #expect(missing.kind == .agent(status: 404, code: "unknown_service") && missing.message.contains("no-such"))
        let wrongToken = AgentClient(host: "local", baseURL: agent.baseURL, token: "wrong")
        let denied = try await #require(throws: AgentClientError.self) { try await wrongToken.services() }
        #expect(denied.code == "unauthorized" && denied.category == .denied && !denied.isUnreachable)
        // A refused connection is reported at once (not retried until the 30 s timeout), in words.
        let port = try freeLoopbackPort()
        let nobody = AgentClient(host: "gone", baseURL: "http://127.0.0.1:\(port)", token: "x", timeout: .seconds(30))
        let clock = ContinuousClock(), started = clock.now
        let refused = try await #require(throws: AgentClientError.self) { try await nobody.health() }
        #expect(clock.now - started < .seconds(3), "\(clock.now - started)")
        #expect(refused.isUnreachable && refused.category == .unreachable)
        #expect(refused.message == "connection refused by 127.0.0.1:\(port) (is the agent running?)", "\(refused.message)")

        // Following the logs: the past lines, then new ones as instances start.
        _ = try await client.scale(service, to: 1)
        let follower = Task {
            var seen: [LogEntry] = []
            for try await entry in client.followLogs(of: service, lines: 10) {
                seen.append(entry)
                if seen.filter({ $0.message == "client-line" }).count >= 2 { break }
            }
            return seen
        }
        _ = try await client.scale(service, to: 2)
        let lines = try await follower.value
        #expect(Set(lines.filter { $0.message == "client-line" }.map(\.slot)) == [1, 2], "\(lines.map { "\($0.slot) \($0.message)" })")
        #expect(try await client.logs(of: service, lines: 50).contains { $0.message == "client-line" && $0.version.rawValue == "1" })

        // Events after an id: exactly the newer ones, oldest first.
        let events = try await client.events(of: service)
        let cut = try #require(events.dropLast().last)
        let newer = try await client.events(of: service, since: cut.id)
        #expect(newer.map(\.id) == events.filter { $0.id > cut.id }.map(\.id))
        // A client following the logs does not hold the agent's shutdown up: the stream ends.
        let following = Atomic<Bool>(false)
        let endless = Task { for try await _ in client.followLogs(of: service, lines: 1) { following.store(true, ordering: .relaxed) } }
        #expect(await waitUntil { following.load(ordering: .relaxed) }, "the follow is under way")
        await agent.stop()
        _ = await endless.result
        #expect(!agent.isRunning)
    }
}
