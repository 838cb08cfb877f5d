import DroverCore
import Testing

@Suite struct RolloutPlannerTests {
    let v1 = try! ReleaseVersion("1"), v2 = try! ReleaseVersion("2")

    func healthy(_ version: ReleaseVersion, _ slots: ClosedRange<Int>, since: Duration = .zero) -> [RolloutInstance] {
        slots.map { RolloutInstance(slot: $0, version: version, startedAt: since, condition: .healthy(since: since)) }
    }

    func target(count: Int = 4, surge: Int = 1, unavailable: Int = 0) -> RolloutTarget {
        RolloutTarget(version: v2, count: count, maxSurge: surge, maxUnavailable: unavailable, minHealthy: .seconds(1), deadline: .seconds(30))
    }

    func kinds(_ decision: RolloutDecision) -> [String] {
        guard case .act(let actions) = decision else { return [] }
        return actions.map { "\($0.kind) \($0.version)@\($0.slot)" }
    }

    @Test func surgeOneUnavailableZeroStartsOneExtraFirst() {
        let decision = RolloutPlanner.next(instances: healthy(v1, 1...4), target: target(), now: .seconds(10))
        #expect(kinds(decision) == ["start 2@5"])
    }

    @Test func aNewInstanceMustBeHealthyForMinHealthyBeforeAnOldOneStops() {
        var instances = healthy(v1, 1...4)
        instances.append(RolloutInstance(slot: 5, version: v2, startedAt: .seconds(10), condition: .healthy(since: .seconds(10.5))))
        #expect(RolloutPlanner.next(instances: instances, target: target(), now: .seconds(11)).isWait)
        #expect(kinds(RolloutPlanner.next(instances: instances, target: target(), now: .seconds(11.5))) == ["stop 1@4", "start 2@6"])
    }

    @Test func unavailableOneSurgeZeroStopsBeforeStarting() {
        let decision = RolloutPlanner.next(instances: healthy(v1, 1...4), target: target(surge: 0, unavailable: 1), now: .seconds(10))
        #expect(kinds(decision) == ["stop 1@4", "start 2@5"], "never in the slot this batch vacates")
    }

    @Test func aVacatedSlotIsReusedByALaterBatch() {
        var instances = healthy(v1, 1...3)
        instances.append(RolloutInstance(slot: 5, version: v2, startedAt: .zero, condition: .healthy(since: .zero)))
        #expect(kinds(RolloutPlanner.next(instances: instances, target: target(surge: 0, unavailable: 1), now: .seconds(10)))
            == ["stop 1@3", "start 2@4"])
    }

    @Test func aFirstDeployStartsEverythingAtOnce() {
        #expect(kinds(RolloutPlanner.next(instances: [], target: target(count: 3), now: .zero)) == ["start 2@1", "start 2@2", "start 2@3"])
    }

    @Test func aFailedNewInstanceFailsTheRollout() {
        var instances = healthy(v1, 1...4)
        instances.append(RolloutInstance(slot: 5, version: v2, startedAt: .seconds(10), condition: .failed(reason: "exited with status 3")))
        #expect(RolloutPlanner.next(instances: instances, target: target(), now: .seconds(11)) == .failed("2@5 failed: exited with status 3"))
    }

    @Test func aNewInstancePastItsDeadlineFailsTheRollout() {
        var instances = healthy(v1, 1...4)
        instances.append(RolloutInstance(slot: 5, version: v2, startedAt: .seconds(10), condition: .starting))
        #expect(RolloutPlanner.next(instances: instances, target: target(), now: .seconds(39)).isWait)
        guard case .failed(let reason) = RolloutPlanner.next(instances: instances, target: target(), now: .seconds(41)) else {
            Issue.record("expected failure")
            return
        }
        #expect(reason.contains("2@5 was not healthy"))
    }

    @Test func completeWhenOnlyServingNewInstancesRemain() {
        #expect(RolloutPlanner.next(instances: healthy(v2, 1...4), target: target(), now: .seconds(5)) == .complete)
        #expect(RolloutPlanner.next(instances: healthy(v2, 1...4, since: .seconds(4.5)), target: target(), now: .seconds(5)).isWait)
    }

    @Test func failedOldInstancesAreStoppedWithoutCountingAsCapacity() {
        var instances = healthy(v1, 1...3)
        instances.append(RolloutInstance(slot: 4, version: v1, startedAt: .zero, condition: .failed(reason: "crashed")))
        #expect(kinds(RolloutPlanner.next(instances: instances, target: target(), now: .seconds(10))) == ["stop 1@4", "start 2@5", "start 2@6"])
    }

    @Test func shrinkingStopsTheHighestSlots() {
        let decision = RolloutPlanner.next(instances: healthy(v2, 1...5), target: target(count: 3), now: .seconds(10))
        #expect(kinds(decision) == ["stop 2@5", "stop 2@4"])
    }

    @Test func targetsThatCouldNeverFinishAreRefused() {
        #expect(throws: SpecError.self) { try target(surge: 0, unavailable: 0).validate(maxInstances: 10) }
        #expect(throws: SpecError.self) { try target(count: 11).validate(maxInstances: 10) }
        #expect(throws: SpecError.self) { try target(surge: -1).validate(maxInstances: 10) }
    }

    /// Random rollouts against a simulated host: invariants at every step, and the end.
    @Test(arguments: 0..<300)
    func propertiesHoldForRandomRollouts(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed))
        let count = Int(random.next() % 7), surge = Int(random.next() % 3)
        let unavailable = surge == 0 ? 1 + Int(random.next() % 2) : Int(random.next() % 3)
        let initialOld = Int(random.next() % 8)
        let goal = RolloutTarget(version: v2, count: count, maxSurge: surge, maxUnavailable: unavailable,
                                 minHealthy: .seconds(Int(random.next() % 3)), deadline: .seconds(1000))
        var instances = healthy(v1, 1...max(1, initialOld)).prefix(initialOld).map { $0 }
        var becomesHealthy: [Int: Duration] = [:]  // slot → when a started instance turns healthy
        let floor = min(initialOld, count - unavailable)
        let ceiling = max(initialOld, count + surge)
        var now = Duration.zero

        for _ in 0..<500 {
            // The simulated host: started instances become healthy when their time comes.
            for index in instances.indices where instances[index].condition == .starting {
                if let at = becomesHealthy[instances[index].slot], now >= at { instances[index].condition = .healthy(since: at) }
            }
            let decision = RolloutPlanner.next(instances: instances, target: goal, now: now)
            #expect(decision == RolloutPlanner.next(instances: instances, target: goal, now: now), "deterministic")
            switch decision {
            case .complete:
                #expect(instances.count == count && instances.allSatisfy { $0.version == v2 })
                return
            case .failed(let reason):
                Issue.record("no instance fails here, yet: \(reason)")
                return
            case .wait:
                break
            case .act(let actions):
                for action in actions where action.kind == .stop {
                    instances.removeAll { $0.slot == action.slot && $0.version == action.version }
                    let serving = instances.filter { $0.isServingForTest(now: now, minHealthy: goal.minHealthy, target: v2) }.count
                    #expect(serving >= floor, "seed \(seed): serving \(serving) < \(floor) after \(action)")
                }
                for action in actions where action.kind == .start {
                    #expect(!instances.contains { $0.slot == action.slot }, "seed \(seed): slot \(action.slot) is taken")
                    instances.append(RolloutInstance(slot: action.slot, version: action.version, startedAt: now, condition: .starting))
                    becomesHealthy[action.slot] = now + .seconds(Int(random.next() % 4))
                }
                #expect(instances.count <= ceiling, "seed \(seed): \(instances.count) running > \(ceiling)")
            }
            now += .milliseconds(500)
        }
        Issue.record("seed \(seed): the rollout did not finish")
    }
}

extension RolloutDecision {
    var isWait: Bool {
        if case .wait = self { return true }
        return false
    }
}

extension RolloutInstance {
    /// Old instances serve while healthy; new ones once healthy for `minHealthy`.
    func isServingForTest(now: Duration, minHealthy: Duration, target: ReleaseVersion) -> Bool {
        guard case .healthy(let since) = condition else { return false }
        return version == target ? now - since >= minHealthy : true
    }
}

/// A small seeded generator, so every failing seed can be replayed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RolloutNextDueTests {
    let v1 = try! ReleaseVersion("1"), v2 = try! ReleaseVersion("2")

    @Test func theRolloutSleepsUntilMinHealthyOrTheDeadline() {
        let target = RolloutTarget(version: v2, count: 2, maxSurge: 1, maxUnavailable: 0, minHealthy: .seconds(2), deadline: .seconds(30))
        let instances = [
            RolloutInstance(slot: 1, version: v1, startedAt: .zero, condition: .healthy(since: .zero)),
            RolloutInstance(slot: 2, version: v2, startedAt: .seconds(10), condition: .healthy(since: .seconds(11))),
            RolloutInstance(slot: 3, version: v2, startedAt: .seconds(10), condition: .starting),
        ]
        #expect(RolloutPlanner.nextDue(instances: instances, target: target, now: .seconds(12)) == .seconds(13))
        #expect(RolloutPlanner.nextDue(instances: instances, target: target, now: .seconds(14)) == .seconds(40) + .milliseconds(1))
        #expect(RolloutPlanner.nextDue(instances: Array(instances.prefix(1)), target: target, now: .seconds(14)) == nil)
    }
}
