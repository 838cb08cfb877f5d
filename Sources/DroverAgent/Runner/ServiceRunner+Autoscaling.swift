import DroverAPI
import DroverCore

extension ServiceRunner {
    /// Turns autoscaling on, or replaces the policy. Recorded first, so it survives restarts;
    /// the loop takes it at once. Store and loop change in one exclusive section: concurrent
    /// PUTs leave both holding the same (last) policy.
    func enableAutoscale(_ policy: AutoscalePolicy) async throws -> AutoscaleInfo {
        try await exclusively {
            _ = try await record()
            let previous = await autoscale?.policy
            try await context.store.setAutoscalePolicy(policy, of: name, event: (previous == nil ? "autoscaling on: " : "autoscaling policy changed: ") + AutoscaleText.describe(policy))
            await setAutoscale(policy)
            context.logger.info("autoscaling set", metadata: ["service": "\(name)", "policy": "\(AutoscaleText.describe(policy))"])
            return await autoscaleInfo()
        }
    }

    /// Turns autoscaling off; the instance count stays where it is.
    func disableAutoscale() async throws {
        try await exclusively {
            guard try await context.store.deleteAutoscalePolicy(of: name) else {
                throw AutoscaleError(.notAutoscaled, "\(name) does not autoscale (PUT a policy to turn it on)")
            }
            await removeAutoscale()
        }
    }

    func autoscaleInfo() -> AutoscaleInfo {
        autoscale?.info(of: name) ?? AutoscaleInfo(service: name, policy: nil, paused: nil, decisions: [])
    }
}
