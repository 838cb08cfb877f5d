import DroverCore
import Foundation
import Testing

/// The autoscaling policy replayed over load series, with exact counts at every interval.
@Suite struct AutoscalerTests {
    let policy = AutoscalePolicy(min: 1, max: 4, cpu: 0.5)

    /// Replays `load(t, count)` (CPU per ready instance) every 5 s; returns the counts decided.
    func replay(_ policy: AutoscalePolicy, ticks: Int, start: Int = 1,
                samples: (Int, Int) -> [AutoscaleSample]) -> [Int] {
        var autoscaler = Autoscaler(policy: policy)
        var current = start
        var counts: [Int] = []
        for tick in 0..<ticks {
            current = autoscaler.decide(current: current, samples: samples(tick, current), now: .seconds(tick * 5)).desired
            counts.append(current)
        }
        return counts
    }

    func busy(_ cpu: Double?, _ count: Int) -> [AutoscaleSample] {
        Array(repeating: AutoscaleSample(ready: true, cpu: cpu, memoryBytes: nil), count: count)
    }

    @Test func aSpikeScalesUpAtOnceAndDownOnlyAfterTheWindow() {
        // Saturated (1 core each) for 3 intervals, then idle.
        let counts = replay(policy, ticks: 20) { tick, count in busy(tick < 3 ? 1.0 : 0.0, count) }
        // Up within 2 intervals, capped at max; held for the 60 s window after the last high
        // recommendation (t = 10 s), down at t = 75 s.
        #expect(counts == [2, 4, 4] + Array(repeating: 4, count: 12) + [1, 1, 1, 1, 1])
    }

    @Test func aSlowRampFollowsOutsideTheTolerance() {
        // 0.5 cores is the target; within 10 % nothing moves.
        let loads = [0.52, 0.54, 0.56, 0.6, 0.7, 0.8, 0.9]
        let counts = replay(policy, ticks: loads.count, start: 2) { tick, count in busy(loads[tick] * 2 / Double(count), count) }
        // Total load 1.04…1.8 cores. At 2 instances: 0.52 and 0.54 per instance (within 10 %:
        // keep), 0.56 (ratio 1.12 → 3). At 3: 0.4 (lower, held by the window), 0.47 and 0.53
        // (within 10 %), 0.6 (ratio 1.2 → ceil(3.6) = 4).
        #expect(counts == [2, 2, 3, 3, 3, 3, 4])
    }

    @Test func oscillatingLoadNeverFlapsDown() {
        let counts = replay(policy, ticks: 12, start: 2) { tick, count in busy(tick % 2 == 0 ? 0.8 : 0.1, count) }
        #expect(counts == counts.sorted(), "the count never goes down while the load oscillates: \(counts)")
        #expect(counts.last == 4)
    }

    @Test func aDeadMetricSourceKeepsTheCount() {
        let counts = replay(policy, ticks: 30, start: 3) { _, count in busy(nil, count) }
        #expect(counts == Array(repeating: 3, count: 30))
        var autoscaler = Autoscaler(policy: policy)
        #expect(autoscaler.decide(current: 3, samples: busy(nil, 3), now: .zero).reason.contains("no readings"))
    }

    @Test func anInstanceNotYetReadyIsLeftOutOfTheAverage() {
        var autoscaler = Autoscaler(policy: policy)
        let samples = [AutoscaleSample(ready: true, cpu: 0.5, memoryBytes: nil), AutoscaleSample(ready: false, cpu: 0, memoryBytes: nil)]
        let decision = autoscaler.decide(current: 2, samples: samples, now: .zero)
        #expect(decision.recommendation == 2, "0.5 per ready instance is on target; the cold one would halve the average")
        #expect(decision.reason.contains("1 ready instances"))
    }

    @Test func theHighestTargetWins() {
        var autoscaler = Autoscaler(policy: AutoscalePolicy(min: 1, max: 10, cpu: 0.5, memoryBytes: 100 << 20))
        let samples = Array(repeating: AutoscaleSample(ready: true, cpu: 0.25, memoryBytes: 300 << 20), count: 2)
        let decision = autoscaler.decide(current: 2, samples: samples, now: .zero)
        #expect(decision.desired == 6, "memory asks for 6, cpu for 1")
        #expect(decision.reason.hasPrefix("memory"))
    }

    @Test func stepsAndBoundsLimitTheChange() {
        var wide = Autoscaler(policy: AutoscalePolicy(min: 1, max: 100, cpu: 0.1))
        #expect(wide.decide(current: 1, samples: busy(2.0, 1), now: .zero).desired == 5, "at most double or +4")
        #expect(wide.decide(current: 10, samples: busy(2.0, 10), now: .seconds(5)).desired == 20)
        var stepped = Autoscaler(policy: AutoscalePolicy(min: 1, max: 100, cpu: 0.1, scaleDownStabilization: .zero, maxStepDown: 2))
        #expect(stepped.decide(current: 10, samples: busy(0, 10), now: .zero).desired == 8)
        var floor = Autoscaler(policy: AutoscalePolicy(min: 2, max: 4, cpu: 0.5, scaleDownStabilization: .zero))
        #expect(floor.decide(current: 3, samples: busy(0, 3), now: .zero).desired == 2)
    }

    @Test func scaleUpStabilizationTakesTheLowestRecentRecommendation() {
        let cautious = AutoscalePolicy(min: 1, max: 10, cpu: 0.5, scaleUpStabilization: .seconds(10))
        let counts = replay(cautious, ticks: 4) { tick, count in busy(tick == 0 ? 0.5 : 1.0, count) }
        // t0 on target; t5 and t10 high but t0 (on target) is within 10 s; t15 all high.
        #expect(counts == [1, 1, 1, 2])
    }

    @Test func policiesThatMakeNoSenseAreRefused() {
        #expect(throws: SpecError.self) { try AutoscalePolicy(min: 3, max: 2, cpu: 0.5).validate(maxInstances: 10) }
        #expect(throws: SpecError.self) { try AutoscalePolicy(min: 1, max: 20, cpu: 0.5).validate(maxInstances: 10) }
        #expect(throws: SpecError.self) { try AutoscalePolicy(min: 1, max: 2).validate(maxInstances: 10) }
        #expect(throws: SpecError.self) { try AutoscalePolicy(min: 1, max: 2, cpu: 0).validate(maxInstances: 10) }
    }
}

@Suite struct CPURateMeterTests {
    @Test func theRateIsCPUTimeOverWallTimeFromTheSecondReading() {
        var meter = CPURateMeter()
        #expect(meter.rate(of: "a", microseconds: 1_000_000, at: .seconds(10)) == nil)
        // 1.5 s of CPU in 1 s: 1.5 cores.
        #expect(meter.rate(of: "a", microseconds: 2_500_000, at: .seconds(11)) == 1.5)
        // Too close to the last reading: the last rate, and the baseline stays.
        #expect(meter.rate(of: "a", microseconds: 2_600_000, at: .milliseconds(11_100)) == 1.5)
        #expect(meter.rate(of: "a", microseconds: 2_750_000, at: .seconds(12)) == 0.25)
    }

    @Test func aCounterThatGoesBackIsANewInstance() {
        var meter = CPURateMeter()
        _ = meter.rate(of: "a", microseconds: 5_000_000, at: .seconds(1))
        #expect(meter.rate(of: "a", microseconds: 100, at: .seconds(2)) == nil)
        #expect(meter.rate(of: "a", microseconds: 500_100, at: .seconds(3)) == 0.5)
        meter.keep(only: ["b"])
        #expect(meter.rate(of: "a", microseconds: 900_000, at: .seconds(4)) == nil)
    }
}

@Suite struct AutoscalePolicyCodingTests {
    @Test func durationsAreSecondsAndMissingFieldsTakeDefaults() throws {
        let decoded = try JSONDecoder().decode(AutoscalePolicy.self, from: Data(#"{"min":1,"max":4,"cpu":0.5,"intervalSeconds":0.5}"#.utf8))
        #expect(decoded == AutoscalePolicy(min: 1, max: 4, cpu: 0.5, interval: .milliseconds(500)))
        let again = try JSONDecoder().decode(AutoscalePolicy.self, from: try JSONEncoder().encode(decoded))
        #expect(again == decoded)
        let text = String(decoding: try JSONEncoder().encode(decoded), as: UTF8.self)
        #expect(text.contains(#""scaleDownStabilizationSeconds":60"#))
    }

    @Test func minIsAtLeastOne() {
        #expect(throws: SpecError.self) { try AutoscalePolicy(min: 0, max: 2, cpu: 0.5).validate(maxInstances: 10) }
    }

    @Test func aManualCountHoldsForTheDownWindow() {
        var autoscaler = Autoscaler(policy: AutoscalePolicy(min: 1, max: 8, cpu: 0.5))
        let idle = Array(repeating: AutoscaleSample(ready: true, cpu: 0, memoryBytes: nil), count: 6)
        autoscaler.reset(to: 6, at: .seconds(0))
        #expect(autoscaler.decide(current: 6, samples: idle, now: .seconds(30)).desired == 6)
        #expect(autoscaler.decide(current: 6, samples: idle, now: .seconds(61)).desired == 1)
    }
}
