import DroverAPI
import DroverCore
import Foundation

/// One round of a service's autoscaling: read the instances, decide, and scale when the
/// decision differs from the count. The runner's autoscaling loop runs one every `interval`
/// for as long as a policy stands; the first round of a policy only takes readings (a CPU
/// rate needs two). Paused while a deployment runs: a rollout owns the count until it ends.
struct AutoscalingRound {
    let runner: ServiceRunner
    /// The policy generation this round belongs to: a round overtaken by a policy change
    /// neither scales nor records.
    let generation: Int

    func run() async {
        let (store, logger, service) = (runner.context.store, runner.context.logger, runner.name)
        func pause(_ reason: String) async { await runner.updateAutoscale { $0.paused = reason } }
        func isCurrent() async -> Bool { await runner.autoscaleGeneration == generation }
        do {
            guard let record = try await store.service(service) else { return }
            guard let version = record.currentVersion else {
                await pause("\(service) has no current release yet")
                return
            }
            if let running = await runner.rollingDeployment {
                await pause("deployment \(running) is running; autoscaling resumes when it ends")
                return
            }
            let readings = try await runner.instances(fresh: true).filter { $0.version == version }.map { instance in
                AutoscaleState.Reading(unit: instance.unit, slot: instance.slot, ready: instance.state == .running,
                                       cpuMicroseconds: instance.cpuNanoseconds.map { $0 / 1000 }, memoryBytes: instance.memoryBytes)
            }
            let current = record.desiredInstances
            guard await isCurrent(),
                  let (decision, samples) = await runner.updateAutoscale({ $0.decide(current: current, readings: readings) }) else { return }
            let decidedAt = Date()
            var action = "held"
            var reason = decision.reason
            if decision.desired != current {
                let inputs = "\(decision.reason); samples: \(AutoscaleText.describe(samples))"
                do {
                    _ = try await runner.scale(to: decision.desired, event: "autoscale.scaled", because: inputs)
                    action = "scaled"
                } catch let error as ScaleError where error.kind == .deploymentRunning {
                    // A deployment began since this round looked: it owns the count now.
                    await pause(error.message)
                    return
                } catch {
                    action = "failed"
                    reason += "; scaling failed: \(error)"
                    try? await store.record("autoscale.failed", service: service, "instances \(current) → \(decision.desired) failed: \(error); \(inputs)")
                    logger.warning("autoscaling could not scale", metadata: ["service": "\(service)", "error": "\(error)"])
                }
            }
            let decisionInfo = AutoscaleDecisionInfo(
                time: decidedAt, action: action, current: current, desired: decision.desired,
                recommendation: decision.recommendation, reason: reason, samples: samples
            )
            guard await isCurrent() else { return }
            await runner.updateAutoscale { $0.record(decisionInfo) }
        } catch {
            await pause("cannot read the instances: \(error)")
            logger.warning("autoscaling round failed", metadata: ["service": "\(service)", "error": "\(error)"])
        }
    }
}

/// Autoscaling inputs in words, for events and the log.
enum AutoscaleText {
    /// "slot 1: 0.98 cores, 31 MiB; slot 2: not ready"
    static func describe(_ samples: [AutoscaleSampleInfo]) -> String {
        guard !samples.isEmpty else { return "none" }
        return samples.map { sample in
            var parts: [String] = []
            if !sample.ready { parts.append("not ready") }
            parts.append(sample.cpuCores.map { String(format: "%.2f cores", $0) } ?? "cpu unknown")
            parts.append(sample.memoryBytes.map { "\($0 >> 20) MiB" } ?? "memory unknown")
            return "slot \(sample.slot): " + parts.joined(separator: ", ")
        }.joined(separator: "; ")
    }

    static func describe(_ policy: AutoscalePolicy) -> String {
        var targets: [String] = []
        if let cpu = policy.cpu { targets.append("cpu \(cpu) cores") }
        if let memory = policy.memoryBytes { targets.append("memory \(memory >> 20) MiB") }
        return "min \(policy.min), max \(policy.max), target \(targets.joined(separator: " and ")) per instance, every \(policy.interval.seconds) s, "
            + "down window \(policy.scaleDownStabilization.seconds) s"
    }
}
