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
            throw AutoscaleError(.invalidPolicy, "policy \(error)")
        }
        _ = try await existing(service)
        let owner = await owner(of: service)
        // Store and loop change in one exclusive section: concurrent PUTs leave both holding
        // the same (last) policy.
        return try await owner.exclusively {
            _ = try await self.existing(service)
            let previous = await owner.autoscale?.policy
            try await self.store.setAutoscalePolicy(policy, of: service, event: (previous == nil ? "autoscaling on: " : "autoscaling policy changed: ") + Self.describe(policy))
            await owner.setAutoscale(policy) { [self] in await autoscaleLoop(service) }
            self.logger.info("autoscaling set", metadata: ["service": "\(service)", "policy": "\(Self.describe(policy))"])
            return await owner.autoscale?.info(of: service) ?? AutoscaleInfo(service: service, policy: policy, paused: nil, decisions: [])
        }
    }

    /// Turns autoscaling off; the instance count stays where it is.
    public func deleteAutoscale(_ service: ServiceName) async throws {
        _ = try await existing(service)
        let owner = await owner(of: service)
        try await owner.exclusively {
            guard try await self.store.deleteAutoscalePolicy(of: service) else {
                throw AutoscaleError(.notAutoscaled, "\(service) does not autoscale (PUT a policy to turn it on)")
            }
            await owner.removeAutoscale()
        }
    }

    public func autoscaleInfo(_ service: ServiceName) async throws -> AutoscaleInfo {
        _ = try await existing(service)
        return await owner(of: service).autoscale?.info(of: service) ?? AutoscaleInfo(service: service, policy: nil, paused: nil, decisions: [])
    }

    /// One service's autoscaling loop: a decision every `interval` for as long as the policy
    /// stands (a changed or removed policy cancels the loop). The first round only takes
    /// readings (a CPU rate needs two).
    func autoscaleLoop(_ service: ServiceName) async {
        let owner = await owner(of: service)
        while !Task.isCancelled, let policy = await owner.autoscale?.policy {
            await autoscaleRound(service, owner: owner)
            guard (try? await Task.sleep(for: policy.interval)) != nil else { return }
        }
    }

    /// Reads the instances, decides, and scales when the decision differs from the count.
    /// Paused while a deployment of the service runs: a rollout owns the count until it ends.
    func autoscaleRound(_ service: ServiceName, owner: ServiceOwner) async {
        func pause(_ reason: String) async { await owner.updateAutoscale { $0.paused = reason } }
        do {
            guard let record = try await store.service(service) else { return }
            guard let version = record.currentVersion else {
                await pause("\(service) has no current release yet")
                return
            }
            if let running = await owner.rollout?.id {
                await pause("deployment \(running) is running; autoscaling resumes when it ends")
                return
            }
            let readings = try await instances(of: service, fresh: true).filter { $0.version == version }.map { instance in
                AutoscaleState.Reading(unit: instance.unit, slot: instance.slot, ready: instance.state == .running,
                                       cpuMicroseconds: instance.cpuNanoseconds.map { $0 / 1000 }, memoryBytes: instance.memoryBytes)
            }
            let current = record.desiredInstances
            guard let (decision, samples) = await owner.updateAutoscale({ $0.decide(current: current, readings: readings) }) else { return }
            let decidedAt = Date()
            var action = "held"
            var reason = decision.reason
            // A loop cancelled meanwhile (its policy changed or went) neither scales nor records.
            guard !Task.isCancelled else { return }
            if decision.desired != current {
                let inputs = "\(decision.reason); samples: \(Self.describe(samples))"
                do {
                    _ = try await scale(service, to: decision.desired, event: "autoscale.scaled", because: inputs)
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
            await owner.updateAutoscale { $0.record(decisionInfo) }
        } catch {
            await pause("cannot read the instances: \(error)")
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
