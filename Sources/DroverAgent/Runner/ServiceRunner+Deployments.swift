import DroverAPI
import DroverCore
import Foundation

extension ServiceRunner {
    /// Starts a rolling deployment of `request.version`; returns at once (the rollout runs in
    /// the runner's rollout loop: follow it with the deployment's record or its events).
    func deploy(_ request: DeploymentRequest) async throws -> DeploymentInfo {
        try await exclusively {
            let (store, service) = (context.store, name)
            let record = try await record()
            guard let release = try await store.release(service, request.version) else {
                throw ServiceError(.unknownRelease, "\(service) has no release \(request.version): upload it first")
            }
            // Everything is checked before anything changes: a refused request leaves a running
            // deployment running.
            var strategy = request.strategy ?? DeploymentStrategy()
            let count = request.instances ?? max(record.desiredInstances, 1)
            // A canary is measured against the release it would replace: with nothing running
            // yet (or the target already current), there is nothing to compare, and it rolls.
            if strategy.canary != nil, record.currentVersion == nil || record.currentVersion == request.version || record.desiredInstances == 0 {
                strategy.canary = nil
                strategy.autoPromoteSeconds = nil
            }
            if let canary = strategy.canary, canary > context.configuration.maxInstances {
                throw DeploymentError(.invalidStrategy, "canary must be between 1 and \(context.configuration.maxInstances), not \(canary)")
            }
            do throws(SpecError) {
                try Rollout.target(version: request.version, count: count, strategy: strategy).validate(maxInstances: context.configuration.maxInstances)
            } catch {
                throw DeploymentError(.invalidStrategy, error.description)
            }
            let running = await rollingDeployment
            if let running, request.supersede != true {
                if let waiting = try await store.deployment(running), waiting.strategy.canary != nil {
                    throw DeploymentError(.deploymentRunning, "a canary of \(waiting.toVersion) (deployment \(running)) is \(waiting.state == .canary ? "waiting" : "starting") on this host: promote it or abort it first (drover promote \(service) / drover abort \(service)), or ask to supersede it")
                }
                throw DeploymentError(.deploymentRunning, "deployment \(running) of \(service) is still running; wait for it, or ask to supersede it")
            }
            // A socket that cannot listen fails the request, not the rollout after a 202.
            if count > 0 { try await SharedSocket(context: context, service: service).ensure(for: release.spec) }
            if let running, let superseded = try await store.deployment(running) {
                // Recorded here; the rollout itself stops at its next step.
                try await store.transition(superseded, to: .superseded, reason: "superseded by a deployment of \(request.version)",
                                           event: "deployment.superseded", "superseded by a deployment of \(request.version)")
            }
            let now = Date()
            let deployment = DeploymentInfo(
                // The release it replaces, which a failure reverts to; none when the target is
                // already current (a first deploy: the first upload became current), so a
                // failing release is never "reverted" to itself.
                id: UUID().uuidString.lowercased(), service: service,
                fromVersion: record.currentVersion == request.version ? nil : record.currentVersion, toVersion: request.version,
                instances: count, strategy: strategy, state: .running, reason: nil, createdAt: now, updatedAt: now
            )
            try await store.addDeployment(deployment)
            try await store.record("deployment.started", service: service, deployment: deployment.id,
                                   "deployment \(deployment.id): \(deployment.fromVersion?.rawValue ?? "nothing") → \(request.version), \(count) instances")
            await forgetCrashes()
            await beginRollout(deployment)
            return deployment
        }
    }

    /// Promotes the deployment `id` waiting as a canary: its rollout goes on.
    func promote(_ id: String) async throws -> DeploymentInfo {
        try await exclusively {
            let deployment = try await waitingCanary(id)
            try await context.store.promoteCanary(deployment, "promoted: the rollout goes on")
            view.changes.signal()
            return try await context.store.deployment(id) ?? deployment
        }
    }

    /// Aborts the deployment `id` while it is a canary (waiting, or its canaries starting):
    /// the canaries stop, the old release runs on untouched.
    func abort(_ id: String) async throws -> DeploymentInfo {
        try await exclusively {
            guard let deployment = try await context.store.deployment(id), deployment.service == name else {
                throw DeploymentError(.unknownDeployment, "no deployment \(id.prefix(64)) of \(name) on this host")
            }
            guard deployment.strategy.canary != nil, deployment.state == .canary || deployment.state == .running else {
                throw DeploymentError(.notCanary, "deployment \(id) of \(name) is \(deployment.state.rawValue), not a canary: only a canary can be aborted (drover rollback goes back from a finished one)")
            }
            let by = RequestOrigin.current.map { " by \($0.token)" } ?? ""
            try await abortCanary(deployment, reason: "aborted\(by); the old release was not touched", event: "deployment.aborted")
            return try await context.store.deployment(id) ?? deployment
        }
    }

    private func waitingCanary(_ id: String) async throws -> DeploymentInfo {
        guard let deployment = try await context.store.deployment(id), deployment.service == name else {
            throw DeploymentError(.unknownDeployment, "no deployment \(id.prefix(64)) of \(name) on this host")
        }
        guard deployment.state == .canary else {
            let why = deployment.state == .running && deployment.strategy.canary != nil ? "its canaries are still starting; promote it once it is a canary" : "only a canary waits to be promoted"
            throw DeploymentError(.notCanary, "deployment \(id) of \(name) is \(deployment.state.rawValue): \(why)")
        }
        return deployment
    }

    /// A deployment back to the release before the current one (or to `version`), with the
    /// same rollout machinery. The release is on disk already: nothing to upload or verify.
    func rollback(to version: ReleaseVersion?, strategy: DeploymentStrategy?) async throws -> DeploymentInfo {
        let record = try await record()
        let releases = try await context.store.releases(of: name)
        let target: ReleaseVersion
        if let version {
            guard releases.contains(where: { $0.version == version }) else {
                throw ServiceError(.unknownRelease, "\(name) has no retained release \(version) (retained: \(releases.map(\.version.rawValue).joined(separator: ", ")))")
            }
            target = version
        } else {
            let currentIndex = releases.firstIndex { $0.version == record.currentVersion } ?? releases.count
            guard currentIndex > 0 else {
                throw DeploymentError(.nothingToRollBackTo, "\(name) has no release older than \(record.currentVersion?.rawValue ?? "none")")
            }
            target = releases[currentIndex - 1].version
        }
        return try await deploy(DeploymentRequest(version: target, instances: max(record.desiredInstances, 1), strategy: strategy))
    }
}
