import DroverCore
import Testing

@Suite struct ReconcilePlannerTests {
    let v1 = try! ReleaseVersion("1"), v2 = try! ReleaseVersion("2")

    func plan(_ count: Int, _ observed: [(Int, ReleaseVersion, InstanceState)], backoff: inout [Int: CrashLoopBackoff],
              at now: Duration = .seconds(100)) -> ReconcilePlanner.Plan {
        ReconcilePlanner.plan(wanted: .init(version: v1, count: count),
                              observed: observed.map { .init(slot: $0.0, version: $0.1, state: $0.2) },
                              backoff: &backoff, now: now)
    }

    @Test func atTheWantedCountNothingHappens() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        let result = plan(2, [(1, v1, .running), (2, v1, .starting)], backoff: &backoff)
        #expect(result.actions.isEmpty && result.waiting.isEmpty && result.holding == nil)
    }

    @Test func missingInstancesStartInTheLowestFreeSlots() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        let result = plan(3, [(2, v1, .running)], backoff: &backoff)
        #expect(result.actions == [.start(slot: 1), .start(slot: 3)])
    }

    @Test func surplusInstancesStopHighestSlotFirst() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        let result = plan(1, [(1, v1, .running), (2, v1, .running), (3, v1, .starting)], backoff: &backoff)
        #expect(result.actions == [.stop(slot: 3), .stop(slot: 2)])
    }

    @Test func aFailedInstanceWaitsTenSecondsThenRestartsInItsSlot() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        let first = plan(2, [(1, v1, .running), (2, v1, .failed)], backoff: &backoff, at: .seconds(100))
        #expect(first.actions.isEmpty)
        #expect(first.waiting == [2: .seconds(110)])
        #expect(first.retryAt == .seconds(110))
        // Seen again before the time: still one crash, still waiting; no new slot instead.
        let early = plan(2, [(1, v1, .running), (2, v1, .failed)], backoff: &backoff, at: .seconds(105))
        #expect(early.actions.isEmpty && backoff[2]?.crashes == 1)
        let due = plan(2, [(1, v1, .running), (2, v1, .failed)], backoff: &backoff, at: .seconds(110))
        #expect(due.actions == [.restart(slot: 2, crashes: 1)])
    }

    @Test func eachCrashDoublesTheWaitUpToFiveMinutes() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        var now = Duration.seconds(0)
        var waits: [Duration] = []
        for _ in 0..<8 {
            let waiting = plan(1, [(1, v1, .failed)], backoff: &backoff, at: now)
            let retry = waiting.retryAt!
            waits.append(retry - now)
            now = retry
            #expect(plan(1, [(1, v1, .failed)], backoff: &backoff, at: now).actions == [.restart(slot: 1, crashes: waits.count)])
            now += .seconds(1)
        }
        #expect(waits == [10, 20, 40, 80, 160, 300, 300, 300].map { Duration.seconds($0) })
    }

    @Test func tenMinutesUpForgetsTheCrashes() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        _ = plan(1, [(1, v1, .failed)], backoff: &backoff, at: .seconds(0))
        _ = plan(1, [(1, v1, .failed)], backoff: &backoff, at: .seconds(10))
        _ = plan(1, [(1, v1, .running)], backoff: &backoff, at: .seconds(300))
        #expect(backoff[1]?.crashes == 1)
        _ = plan(1, [(1, v1, .running)], backoff: &backoff, at: .seconds(610))
        #expect(backoff[1] == nil)
        #expect(plan(1, [(1, v1, .failed)], backoff: &backoff, at: .seconds(700)).retryAt == .seconds(710))
    }

    @Test func aStartedInstanceThatVanishesCountsAsACrash() {
        // An instance that exits cleanly is unloaded by systemd: the slot the reconciler
        // started is simply gone. It must not be started again in a tight loop.
        var backoff: [Int: CrashLoopBackoff] = [:]
        #expect(plan(1, [], backoff: &backoff, at: .seconds(0)).actions == [.start(slot: 1)])
        let gone = plan(1, [], backoff: &backoff, at: .seconds(1))
        #expect(gone.actions.isEmpty)
        #expect(gone.waiting == [1: .seconds(11)])
    }

    @Test func failedInstancesBeyondTheCountAreForgotten() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        let result = plan(1, [(1, v1, .running), (2, v1, .failed)], backoff: &backoff)
        #expect(result.actions == [.forget(slot: 2)])
        #expect(backoff[2] == nil)
    }

    @Test func instancesOfAnotherReleaseHoldThePlanner() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        let result = plan(2, [(1, v1, .running), (2, v2, .running)], backoff: &backoff)
        #expect(result.actions.isEmpty)
        #expect(result.holding?.contains("2") == true)
        // A failed one of another release does not hold it; its slot stays taken.
        let settled = plan(2, [(1, v1, .running), (2, v2, .failed)], backoff: &backoff)
        #expect(settled.actions == [.start(slot: 3)])
    }

    @Test func idleUnitsDoNotTakeASlot() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        #expect(plan(1, [(1, v2, .idle)], backoff: &backoff).actions == [.start(slot: 1)])
    }

    @Test func theStateEnumReadsSystemdsStates() {
        #expect(InstanceState(activeState: "active", hasJob: false) == .running)
        #expect(InstanceState(activeState: "reloading", hasJob: false) == .running)
        #expect(InstanceState(activeState: "activating", hasJob: true) == .starting)
        #expect(InstanceState(activeState: "inactive", hasJob: true) == .starting)
        #expect(InstanceState(activeState: "inactive", hasJob: false) == .idle)
        #expect(InstanceState(activeState: "deactivating", hasJob: true) == .stopping)
        #expect(InstanceState(activeState: "failed", hasJob: false) == .failed)
    }

    @Test func neverTrapsOnAbsurdCounts() {
        var backoff: [Int: CrashLoopBackoff] = [:]
        #expect(plan(-5, [(1, v1, .running)], backoff: &backoff).actions == [.stop(slot: 1)])
        backoff = [Int.max: CrashLoopBackoff()]
        _ = plan(2, [(Int.max - 1, v1, .failed)], backoff: &backoff)
        #expect(CrashLoopBackoff.delay(afterCrashes: Int.max) == .seconds(300))
    }
}
