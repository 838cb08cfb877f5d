@testable import DroverAgent
import DroverAPI
import DroverCore
import DroverTestbed
import Synchronization
import Testing

/// The shared read of every service: the answer only at the change count it was read at;
/// renewed behind callers when it is old; read once for callers who ask together.
@Suite struct ServiceListCacheTests {
    final class Reads: Sendable {
        let count = Atomic<Int>(0)
        func read() async throws -> [ServiceInfo] {
            let number = count.add(1, ordering: .relaxed).newValue
            try await Task.sleep(for: .milliseconds(50))
            return [ServiceInfo(name: try ServiceName("web"), currentVersion: nil, desiredInstances: number, releases: [], instances: [])]
        }
    }

    @Test func aChangeIsReadAtOnceAndAnOldReadIsRenewedBehindTheCallers() async throws {
        let cache = ServiceListCache(maxAge: .milliseconds(300))
        let reads = Reads()
        let first = try await cache.snapshot(at: 1, read: reads.read)
        #expect(first.services.first?.desiredInstances == 1)
        #expect(String(decoding: first.json, as: UTF8.self).contains(#""desiredInstances":1"#), "the JSON is of the same read")
        let again = try await cache.snapshot(at: 1, read: reads.read)
        #expect(reads.count.load(ordering: .relaxed) == 1 && again.services == first.services, "nothing changed: the same read")
        #expect(await cache.current(at: 1) != nil)
        #expect(await cache.current(at: 2) == nil, "kept, but not the answer at another count")

        let changed = try await cache.snapshot(at: 2, read: reads.read)
        #expect(changed.services.first?.desiredInstances == 2, "a change: the caller waits for a new read")

        try await Task.sleep(for: .milliseconds(400))
        let old = try await cache.snapshot(at: 2, read: reads.read)
        #expect(old.services.first?.desiredInstances == 2, "too old but unchanged: served while a new read runs")
        #expect(await waitUntil(timeout: .seconds(10)) { (await cache.current(at: 2)?.services.first?.desiredInstances) == 3 },
                "the new read replaced it")
        #expect(reads.count.load(ordering: .relaxed) == 3)
    }

    /// An unchanged read no one asked for in a long while is not served: its CPU and memory
    /// would be that old.
    @Test func aReadLeftAloneLongIsNotServedOld() async throws {
        let cache = ServiceListCache(maxAge: .milliseconds(100), staleLimit: .milliseconds(300))
        let reads = Reads()
        _ = try await cache.snapshot(at: 1, read: reads.read)
        try await Task.sleep(for: .milliseconds(500))
        let later = try await cache.snapshot(at: 1, read: reads.read)
        #expect(later.services.first?.desiredInstances == 2, "the caller waited for a new read")
    }

    @Test func callersWhoAskTogetherShareOneRead() async throws {
        let cache = ServiceListCache()
        let reads = Reads()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { _ = try await cache.snapshot(at: 7, read: reads.read) } }
            try await group.waitForAll()
        }
        #expect(reads.count.load(ordering: .relaxed) == 1)
    }

    @Test func aFailedReadIsNotKept() async throws {
        struct Unreadable: Error {}
        let cache = ServiceListCache()
        await #expect(throws: Unreadable.self) { try await cache.snapshot(at: 1) { throw Unreadable() } }
        let reads = Reads()
        #expect(try await cache.snapshot(at: 1, read: reads.read).services.first?.desiredInstances == 1, "the next caller reads again")
    }
}
