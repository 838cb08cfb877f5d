@testable import DroverAgent
import DroverAPI
import DroverCore
import Foundation
import Synchronization
import Testing

/// The shared read of every service: reused only at the same change count and within its
/// age, and computed once for callers who ask together.
@Suite struct ServiceListCacheTests {
    final class Reads: Sendable {
        let count = Atomic<Int>(0)
        func read() async throws -> [ServiceInfo] {
            count.add(1, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(50))
            return [ServiceInfo(name: try ServiceName("web"), currentVersion: nil, desiredInstances: count.load(ordering: .relaxed),
                                releases: [], instances: [])]
        }
    }

    @Test func aReadIsReusedOnlyWhileNothingChangedAndItIsYoung() async throws {
        let cache = ServiceListCache(maxAge: .milliseconds(500))
        let reads = Reads()
        let first = try await cache.services(at: 1, compute: reads.read)
        let again = try await cache.services(at: 1, compute: reads.read)
        #expect(reads.count.load(ordering: .relaxed) == 1 && again.services == first.services, "nothing changed: the same read")
        #expect(await cache.current(at: 1)?.services == first.services)
        #expect(await cache.current(at: 2) == nil, "kept, but not the answer at another count")
        let changed = try await cache.services(at: 2, compute: reads.read)
        #expect(reads.count.load(ordering: .relaxed) == 2 && changed.services.first?.desiredInstances == 2, "a change: read again")
        try await Task.sleep(for: .milliseconds(600))
        _ = try await cache.services(at: 2, compute: reads.read)
        #expect(reads.count.load(ordering: .relaxed) == 3, "too old: read again")
    }

    @Test func callersWhoAskTogetherShareOneRead() async throws {
        let cache = ServiceListCache()
        let reads = Reads()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { _ = try await cache.services(at: 7, compute: reads.read) } }
            try await group.waitForAll()
        }
        #expect(reads.count.load(ordering: .relaxed) == 1)
    }

    @Test func theJSONIsEncodedOncePerRead() async throws {
        let cache = ServiceListCache()
        let reads = Reads(), encodings = Atomic<Int>(0)
        let snapshot = try await cache.services(at: 1, compute: reads.read)
        for _ in 0..<3 {
            _ = try await cache.json(of: snapshot) { services in
                encodings.add(1, ordering: .relaxed)
                return try JSONEncoder.droverAPI.encode(services)
            }
        }
        #expect(encodings.load(ordering: .relaxed) == 1)
    }
}
