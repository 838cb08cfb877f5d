import DroverAPI
import DroverCore
import DroverSystemd
import Foundation

extension Agent {
    /// Turns autoscaling on for a service, or replaces its policy. The policy is recorded first,
    /// so it survives restarts; the loop starts at once.
    public func setAutoscale(_ service: ServiceName, _ policy: AutoscalePolicy) async throws -> AutoscaleInfo {
        do {
            try policy.validate(maxInstances: configuration.maxInstances)
        } catch {
            throw AgentError.badRequest("invalid_policy", "policy \(error)")
        }
        _ = try existing(service)
        let previous = await autoscaling.policy(of: service)
        try store.setAutoscalePolicy(policy, of: service, event: (previous == nil ? "autoscaling on: " : "autoscaling policy changed: ") + Self.describe(policy))
        if let loop = await autoscaling.set(policy, for: service) { autoscaleQueue.continuation.yield((service, loop)) }
        logger.info("autoscaling set", metadata: ["service": "\(service)", "policy": "\(Self.describe(policy))"])
        return await autoscaling.info(of: service)
    }

    /// Turns autoscaling off; the instance count stays where it is.
    public func deleteAutoscale(_ service: ServiceName) async throws {
        _ = try existing(service)
        guard try store.deleteAutoscalePolicy(of: service) else {
            throw AgentError.notFound("not_autoscaled", "\(service) does not autoscale (PUT a policy to turn it on)")
        }
        await autoscaling.remove(service)
    }

    public func autoscaleInfo(_ service: ServiceName) async throws -> AutoscaleInfo {
        _ = try existing(service)
        return await autoscaling.info(of: service)
    }

    /// One service's autoscaling loop: a decision every `interval` for as long as the service
    /// has a policy. The first round only takes readings (a CPU rate needs two). A changed
    /// policy takes effect at once; a removed one ends the loop at once.
    func autoscaleLoop(_ service: ServiceName, loop: Int) async {
        while !Task.isCancelled, await autoscaling.isCurrent(loop, of: service) {
            await autoscaleRound(service)
            await autoscaling.waitForNextRound(of: service, loop: loop)
        }
    }

    /// Reads the instances, decides, and scales when the decision differs from the count.
    /// Paused while a deployment of the service runs: a rollout owns the count until it ends.
    func autoscaleRound(_ service: ServiceName) async {
        do {
            guard let record = try store.service(service) else { return }
            guard let version = record.currentVersion else {
                await autoscaling.pause(service, because: "\(service) has no current release yet")
                return
            }
            if let running = await activeDeployments.current(of: service) {
                await autoscaling.pause(service, because: "deployment \(running) is running; autoscaling resumes when it ends")
                return
            }
            let readings = try await instances(of: service).filter { $0.version == version }.map { instance in
                AutoscaleRegistry.Reading(unit: instance.unit, slot: instance.slot, ready: instance.activeState == "active",
                                          cpuMicroseconds: instance.cpuNanoseconds.map { $0 / 1000 }, memoryBytes: instance.memoryBytes)
            }
            let current = record.desiredInstances
            guard let (decision, samples) = await autoscaling.decide(service, current: current, readings: readings) else { return }
            let decidedAt = Date()
            var action = "held"
            var reason = decision.reason
            if decision.desired != current {
                let inputs = "\(decision.reason); samples: \(Self.describe(samples))"
                do {
                    _ = try await scale(service, to: decision.desired, event: "autoscale.scaled", because: inputs)
                    action = "scaled"
                } catch let error as AgentError where error.code == "deployment_running" {
                    // A deployment began since this round looked: it owns the count now.
                    await autoscaling.pause(service, because: error.message)
                    return
                } catch {
                    action = "failed"
                    reason += "; scaling failed: \(error)"
                    try? store.record("autoscale.failed", service: service, "instances \(current) → \(decision.desired) failed: \(error); \(inputs)")
                    logger.warning("autoscaling could not scale", metadata: ["service": "\(service)", "error": "\(error)"])
                }
            }
            await autoscaling.record(AutoscaleDecisionInfo(
                time: decidedAt, action: action, current: current, desired: decision.desired,
                recommendation: decision.recommendation, reason: reason, samples: samples
            ), for: service)
        } catch {
            await autoscaling.pause(service, because: "cannot read the instances: \(error)")
            logger.warning("autoscaling round failed", metadata: ["service": "\(service)", "error": "\(error)"])
        }
    }

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
