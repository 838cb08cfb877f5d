import DroverCore
import Foundation
import Testing

/// Numbers from outside are range-checked where they are decoded, and the arithmetic that
/// uses them cannot trap, whatever they are.
@Suite struct BoundsTests {
    func policy(_ json: String) throws -> AutoscalePolicy {
        try JSONDecoder().decode(AutoscalePolicy.self, from: Data(json.utf8))
    }

    @Test(arguments: [
        #"{"min": 1, "max": 2, "cpu": 0.5, "intervalSeconds": 1e300}"#,
        #"{"min": 1, "max": 2, "cpu": 0.5, "scaleDownStabilizationSeconds": 1e300}"#,
        #"{"min": 1, "max": 2, "cpu": 0.5, "scaleUpStabilizationSeconds": -1}"#,
        #"{"min": 1, "max": 2, "cpu": 1e-300}"#,
        #"{"min": 1, "max": 2, "cpu": 1e300}"#,
        #"{"min": 1, "max": 2, "cpu": 0.5, "maxStepUp": 9223372036854775807}"#,
        #"{"min": 1, "max": 2, "cpu": 0.5, "maxStepDown": 0}"#,
        #"{"min": 1, "max": 9223372036854775807, "cpu": 0.5}"#,
        #"{"min": -9223372036854775808, "max": 2, "cpu": 0.5}"#,
        #"{"min": 1, "max": 2, "memoryBytes": 18446744073709551615}"#,
        #"{"min": 1, "max": 2, "cpu": 0.5, "tolerance": 1}"#,
    ])
    func outOfRangePolicyNumbersAreRefusedWhereDecoded(_ json: String) {
        #expect(throws: SpecError.self) { try policy(json) }
    }

    @Test(arguments: [#"{"min": 1, "max": 2, "cpu": 0.5, "intervalSeconds": 1e999}"#, #"{"min": 1.5, "max": 2, "cpu": 0.5}"#])
    func numbersNoSwiftTypeHoldsAreRefusedToo(_ json: String) {
        #expect(throws: (any Error).self) { try policy(json) }
    }

    @Test func limitsAreDecodedWithinTheirRanges() throws {
        let decoder = JSONDecoder()
        #expect(throws: SpecError.self) { try decoder.decode(InstanceLimits.self, from: Data(#"{"cpuPercent": 0}"#.utf8)) }
        #expect(throws: SpecError.self) { try decoder.decode(InstanceLimits.self, from: Data(#"{"memoryBytes": 18446744073709551615}"#.utf8)) }
        #expect(try decoder.decode(InstanceLimits.self, from: Data(#"{"cpuPercent": 150}"#.utf8)) == InstanceLimits(cpuPercent: 150))
    }

    @Test func durationsFromSecondsNeverTrap() {
        for seconds in [-1e300, -1, 0, 0.0004, 1.5, 86_400, 1e300, .infinity, -.infinity, .nan] {
            let duration = Duration.seconds(clamping: seconds)
            #expect(duration >= .zero && duration <= .seconds(86_400))
        }
        #expect(Duration.seconds(clamping: 1.5) == .milliseconds(1500))
    }

    @Test func saturatingArithmetic() {
        #expect(Int.max.addingSaturated(1) == .max)
        #expect(Int.min.subtractingSaturated(1) == .min)
        #expect(5.addingSaturated(-7) == -2)
        #expect(Int(roundingUp: 1e300, clampedTo: 0...10, fallback: 3) == 10)
        #expect(Int(roundingUp: .nan, clampedTo: 0...10, fallback: 3) == 3)
        #expect(Int(roundingUp: 2.1, clampedTo: 0...10, fallback: 3) == 3)
        #expect(Int(roundingUp: -.infinity, clampedTo: 0...10, fallback: 3) == 0)
    }

    /// Policies made in code skip decoding; the autoscaler must still not trap on them (a
    /// stored policy from an older agent reaches it the same way), and keeps within min…max.
    @Test func theAutoscalerNeverTrapsWhateverThePolicyAndReadings() {
        var random = SystemRandomNumberGenerator()
        let extremes: [Double] = [0, 1e-300, 1e-9, 0.5, 1, 1e9, 1e300, .infinity, .greatestFiniteMagnitude]
        for _ in 0..<2_000 {
            let min = Int.random(in: 1...5, using: &random)
            let policy = AutoscalePolicy(
                min: min, max: min + Int.random(in: 0...50, using: &random),
                cpu: Bool.random(using: &random) ? extremes.randomElement(using: &random)! : nil,
                memoryBytes: [nil, 1, 1 << 20, UInt64.max].randomElement(using: &random)!,
                tolerance: [0, 0.1, 0.99].randomElement(using: &random)!,
                scaleDownStabilization: .seconds(Int.random(in: 0...5, using: &random)),
                maxStepUp: [nil, 1, Int.max].randomElement(using: &random)!,
                maxStepDown: [nil, 1, Int.max].randomElement(using: &random)!
            )
            var autoscaler = Autoscaler(policy: policy)
            let current = [0, 1, 7, Int.max / 2, Int.max].randomElement(using: &random)!
            let samples = (0..<Int.random(in: 0...4, using: &random)).map { _ in
                AutoscaleSample(ready: Bool.random(using: &random), cpu: extremes.randomElement(using: &random)!,
                                memoryBytes: [0, 1 << 30, UInt64.max].randomElement(using: &random)!)
            }
            for second in 0..<3 {
                let decision = autoscaler.decide(current: current, samples: samples, now: .seconds(second))
                #expect((policy.min...policy.max).contains(decision.desired))
            }
        }
    }

    @Test func aRolloutTargetWithAbsurdSurgeIsRefusedAndPlanningItCannotTrap() throws {
        let version = try ReleaseVersion("2")
        let target = RolloutTarget(version: version, count: 3, maxSurge: .max, maxUnavailable: .max)
        #expect(throws: SpecError.self) { try target.validate(maxInstances: 100) }
        let old = try ReleaseVersion("1")
        let instances = (1...3).map { RolloutInstance(slot: $0, version: old, startedAt: .zero, condition: .healthy(since: .zero)) }
        _ = RolloutPlanner.next(instances: instances, target: target, now: .seconds(5))
    }
}
