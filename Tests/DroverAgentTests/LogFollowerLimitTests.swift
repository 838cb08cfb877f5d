import DroverAPI
import DroverClient
import DroverCore
import DroverTestbed
import Foundation
import Synchronization
import Testing

/// Log follows are bounded: each holds a journal open, so one past `max_log_followers` is a
/// clear 429, and a follow that ends gives its place back.
@Suite(.userManager, .timeLimit(.minutes(2)))
struct LogFollowerLimitTests {
    @Test func aFollowBeyondTheLimitIsRefusedUntilOneEnds() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent(extraConfig: "max_log_followers = 2")
        defer { Task { await agent.stop() } }
        let client = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token, timeout: .seconds(20))
        let service = try ServiceName(uniqueService("followers"))
        let spec = ServiceSpec(binary: "web", arguments: ["--print", "follower-line"], type: .notify)
        _ = try await client.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: spec)
        _ = try await client.scale(service, to: 1)

        // Two follows under way: each has delivered the instance's line.
        let firstDelivered = Atomic<Bool>(false), secondDelivered = Atomic<Bool>(false)
        let first = Task {
            for try await entry in client.followLogs(of: service, lines: 20) where entry.message == "follower-line" { firstDelivered.store(true, ordering: .relaxed) }
        }
        let second = Task {
            for try await entry in client.followLogs(of: service, lines: 20) where entry.message == "follower-line" { secondDelivered.store(true, ordering: .relaxed) }
        }
        #expect(await waitUntil(timeout: .seconds(15)) { firstDelivered.load(ordering: .relaxed) && secondDelivered.load(ordering: .relaxed) },
                "both follows are under way")

        let refused = try await #require(throws: AgentClientError.self) {
            for try await _ in client.followLogs(of: service, lines: 1) {}
        }
        #expect(refused.kind == .agent(status: 429, code: "too_many_followers"), "\(refused.kind)")
        #expect(refused.message.contains("2 log follows are open"), "\(refused.message)")
        // Reading without follow is not bounded.
        #expect(try await client.logs(of: service, lines: 5).contains { $0.message == "follower-line" })

        // One follow ends: the agent sees it gone when a write to it fails (a heartbeat after
        // 15 s of silence, or the one after: a client's half-close alone does not tell), and a
        // new follow is served.
        first.cancel()
        _ = await first.result
        let served = await waitUntil(timeout: .seconds(70), interval: .milliseconds(250)) {
            // Served: the follow is accepted and delivers its first line (a refusal throws).
            let probe = Task {
                for try await _ in client.followLogs(of: service, lines: 20) { return true }
                return false
            }
            defer { probe.cancel() }
            return (try? await probe.value) ?? false
        }
        #expect(served, "a follow is served again once one has ended")
        second.cancel()
        _ = await second.result
    }

    /// Follows of one service share its one journal reader: three follows hold one journal
    /// (one inotify descriptor in the agent), and once they end, none.
    @Test func followsOfOneServiceShareOneJournalReader() async throws {
        let bed = try Bed.require()
        let agent = try await bed.agent()
        defer { Task { await agent.stop() } }
        let client = AgentClient(host: "local", baseURL: agent.baseURL, token: agent.token, timeout: .seconds(20))
        let service = try ServiceName(uniqueService("shared"))
        let spec = ServiceSpec(binary: "web", arguments: ["--print", "shared-line"], type: .notify)
        _ = try await client.upload(service, try ReleaseVersion("1"), file: fixturePath, spec: spec)
        _ = try await client.scale(service, to: 1)
        let pid = try #require(agent.pid)
        func journalsOpen() -> Int {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == "anon_inode:inotify" }.count
        }
        #expect(journalsOpen() == 0, "no journal is open before a follow")

        let seen = LineCount()
        let follows = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        for try await entry in client.followLogs(of: service, lines: 20) where entry.message == "shared-line" {
                            seen.add()
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(await waitUntil(timeout: .seconds(15)) { seen.value >= 3 }, "each follow has its last lines")
        #expect(journalsOpen() == 1, "three follows, one journal")
        // A line written now reaches all three.
        _ = try await client.scale(service, to: 2)
        #expect(await waitUntil(timeout: .seconds(15)) { seen.value >= 6 }, "the new instance's line reached every follow")
        follows.cancel()
        _ = await follows.result
        // The agent sees them gone at a heartbeat's write (two at most), then closes the journal.
        #expect(await waitUntil(timeout: .seconds(70), interval: .milliseconds(250)) { journalsOpen() == 0 }, "the reader closes with its last follow")
    }
}

/// Lines seen by several follows at once.
final class LineCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add() { count.add(1, ordering: .relaxed) }
}
