import DroverAPI
import DroverCore
import Foundation

/// The autoscaling state of every service that has a policy: the policy, the `Autoscaler`
/// value carried between intervals, the CPU meter and the latest decisions. One actor, so the
/// loop, manual scales and the API see one consistent picture.
actor AutoscaleRegistry {
    private struct Entry {
        var autoscaler: Autoscaler
        /// Its own meter, not the API's (`CPURates`): a rate over the whole interval, however
        /// often instances are read by `GET …/instances` or a metrics scrape in between.
        var meter = CPURateMeter()
        var decisions: [AutoscaleDecisionInfo] = []
        var paused: String?
        /// Which loop serves this entry: a policy removed and set again gets a new loop, and
        /// the old one, when it wakes, sees it is no longer wanted.
        var loop: Int
        /// The loop's wait for its next round, cut short when the policy changes or goes.
        var wait: Task<Void, Never>?
    }

    /// How many decisions `GET …/autoscale` keeps per service.
    static let keptDecisions = 30

    private var entries: [ServiceName: Entry] = [:]
    private var loops = 0
    private let clock = ContinuousClock()
    private let epoch = ContinuousClock.now

    /// Sets the policy. Returns the number of a loop to start, when the service has none yet.
    func set(_ policy: AutoscalePolicy, for service: ServiceName) -> Int? {
        if var entry = entries[service] {
            if entry.autoscaler.policy != policy {
                entry.autoscaler = Autoscaler(policy: policy)
                entry.wait?.cancel()
            }
            entries[service] = entry
            return nil
        }
        loops += 1
        entries[service] = Entry(autoscaler: Autoscaler(policy: policy), loop: loops)
        return loops
    }

    func remove(_ service: ServiceName) {
        entries[service]?.wait?.cancel()
        entries[service] = nil
    }

    func policy(of service: ServiceName) -> AutoscalePolicy? {
        entries[service]?.autoscaler.policy
    }

    /// Whether loop `loop` still serves the service (false: the policy is gone; the loop ends).
    func isCurrent(_ loop: Int, of service: ServiceName) -> Bool {
        entries[service]?.loop == loop
    }

    /// Waits until loop `loop`'s next round: one interval, and no longer once the policy
    /// changes or is removed.
    func waitForNextRound(of service: ServiceName, loop: Int) async {
        guard var entry = entries[service], entry.loop == loop else { return }
        let interval = entry.autoscaler.policy.interval
        let wait = Task { _ = try? await Task.sleep(for: interval) }
        entry.wait = wait
        entries[service] = entry
        await withTaskCancellationHandler { await wait.value } onCancel: { wait.cancel() }
    }

    /// A count set by hand holds for the down window before load lowers it.
    func manuallyScaled(_ service: ServiceName, to count: Int) {
        entries[service]?.autoscaler.reset(to: count, at: clock.now - epoch)
    }

    struct Reading: Sendable {
        var unit: String
        var slot: Int
        var ready: Bool
        var cpuMicroseconds: UInt64?
        var memoryBytes: UInt64?
    }

    /// One interval's decision from the instances' readings, or nil when the policy is gone.
    func decide(_ service: ServiceName, current: Int, readings: [Reading]) -> (decision: Autoscaler.Decision, samples: [AutoscaleSampleInfo])? {
        guard var entry = entries[service] else { return nil }
        let now = clock.now - epoch
        var samples: [AutoscaleSampleInfo] = []
        for reading in readings {
            let cores = reading.cpuMicroseconds.flatMap { entry.meter.rate(of: reading.unit, microseconds: $0, at: now) }
            samples.append(AutoscaleSampleInfo(slot: reading.slot, ready: reading.ready, cpuCores: cores, memoryBytes: reading.memoryBytes))
        }
        entry.meter.keep(only: Set(readings.map(\.unit)))
        let decision = entry.autoscaler.decide(
            current: current,
            samples: samples.map { AutoscaleSample(ready: $0.ready, cpu: $0.cpuCores, memoryBytes: $0.memoryBytes) },
            now: now
        )
        entry.paused = nil
        entries[service] = entry
        return (decision, samples)
    }

    func pause(_ service: ServiceName, because reason: String) {
        entries[service]?.paused = reason
    }

    func record(_ decision: AutoscaleDecisionInfo, for service: ServiceName) {
        guard var entry = entries[service] else { return }
        entry.decisions.append(decision)
        entry.decisions.removeFirst(max(0, entry.decisions.count - Self.keptDecisions))
        entries[service] = entry
    }

    func info(of service: ServiceName) -> AutoscaleInfo {
        let entry = entries[service]
        return AutoscaleInfo(service: service, policy: entry?.autoscaler.policy, paused: entry?.paused, decisions: entry?.decisions ?? [])
    }
}
