import DroverCore
import Testing

@Suite struct RestartLimitTests {
    /// The answers to a series of readings (restart counter, seconds), in order.
    func observe(_ limit: inout RestartLimit, _ readings: [(UInt32, Int64)]) -> [Bool] {
        readings.map { limit.observe(restartCount: $0.0, at: .seconds($0.1)) }
    }

    @Test func theFirstReadingIsABaselineNotARestart() {
        var limit = RestartLimit(burst: 2, interval: .seconds(60))
        #expect(observe(&limit, [(7, 0)]) == [false])
        #expect(limit.recentRestarts(at: .seconds(0)) == 0)
    }

    @Test func burstRestartsWithinTheIntervalReachTheLimit() {
        var limit = RestartLimit(burst: 2, interval: .seconds(60))
        #expect(observe(&limit, [(0, 0), (1, 1), (2, 2)]) == [false, false, true])
    }

    @Test func severalRestartsSeenInOneReadingCount() {
        var limit = RestartLimit(burst: 3, interval: .seconds(60))
        #expect(observe(&limit, [(0, 0), (5, 1)]) == [false, true])
    }

    @Test func restartsOlderThanTheIntervalAreForgotten() {
        var limit = RestartLimit(burst: 2, interval: .seconds(10))
        #expect(observe(&limit, [(0, 0), (1, 1), (2, 20)]) == [false, false, false], "the first restart is 19 s old")
        #expect(limit.recentRestarts(at: .seconds(20)) == 1)
    }

    @Test func aCounterThatWentDownIsANewStartAndStartsOver() {
        var limit = RestartLimit(burst: 2, interval: .seconds(60))
        #expect(observe(&limit, [(0, 0), (1, 1), (0, 2), (1, 3)]) == [false, false, false, false])
        #expect(limit.recentRestarts(at: .seconds(3)) == 1)
    }

    @Test func hugeCountersCannotTrap() {
        var limit = RestartLimit(burst: 1_000, interval: .seconds(86_400))
        #expect(observe(&limit, [(0, 0), (.max, 1)]) == [false, true])
        #expect(limit.recentRestarts(at: .seconds(1)) == 1_000)
    }
}

extension RestartLimitTests {
    @Test func aBurstFromAHostileStoredSpecCannotTrap() {
        var limit = RestartLimit(burst: .max, interval: .seconds(60))
        #expect(limit.burst == 1_000)
        #expect(observe(&limit, [(0, 0), (.max, 1)]) == [false, true])
        var negative = RestartLimit(burst: -5, interval: .seconds(60))
        #expect(negative.burst == 1 && observe(&negative, [(0, 0), (1, 1)]) == [false, true])
    }
}
