import DroverAPI
import DroverCore
import Foundation

/// A service's autoscaling: the policy, the `Autoscaler` value carried between intervals, the
/// CPU meter and the latest decisions. Held by the service's owner, so the loop, manual scales
/// and the API see one consistent picture.
struct AutoscaleState: Sendable {
    var autoscaler: Autoscaler
    /// Its own meter, not the API's (`CPURates`): a rate over the whole interval, however
    /// often instances are read by `GET …/instances` or a metrics scrape in between.
    var meter = CPURateMeter()
    var decisions: [AutoscaleDecisionInfo] = []
    var paused: String?

    /// How many decisions `GET …/autoscale` keeps per service.
    static let keptDecisions = 30
    private static let epoch = ContinuousClock.now

    init(policy: AutoscalePolicy) {
        autoscaler = Autoscaler(policy: policy)
    }

    var policy: AutoscalePolicy { autoscaler.policy }

    /// A count set by hand holds for the down window before load lowers it.
    mutating func manuallyScaled(to count: Int) {
        autoscaler.reset(to: count, at: ContinuousClock.now - Self.epoch)
    }

    struct Reading: Sendable {
        var unit: String
        var slot: Int
        var ready: Bool
        var cpuMicroseconds: UInt64?
        var memoryBytes: UInt64?
    }

    /// One interval's decision from the instances' readings.
    mutating func decide(current: Int, readings: [Reading]) -> (decision: Autoscaler.Decision, samples: [AutoscaleSampleInfo]) {
        let now = ContinuousClock.now - Self.epoch
        var samples: [AutoscaleSampleInfo] = []
        for reading in readings {
            let cores = reading.cpuMicroseconds.flatMap { meter.rate(of: reading.unit, microseconds: $0, at: now) }
            samples.append(AutoscaleSampleInfo(slot: reading.slot, ready: reading.ready, cpuCores: cores, memoryBytes: reading.memoryBytes))
        }
        meter.keep(only: Set(readings.map(\.unit)))
        let decision = autoscaler.decide(
            current: current,
            samples: samples.map { AutoscaleSample(ready: $0.ready, cpu: $0.cpuCores, memoryBytes: $0.memoryBytes) },
            now: now
        )
        paused = nil
        return (decision, samples)
    }

    mutating func record(_ decision: AutoscaleDecisionInfo) {
        decisions.append(decision)
        decisions.removeFirst(max(0, decisions.count - Self.keptDecisions))
    }

    func info(of service: ServiceName) -> AutoscaleInfo {
        AutoscaleInfo(service: service, policy: policy, paused: paused, decisions: decisions)
    }
}
