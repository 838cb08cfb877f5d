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
            let strategy = request.strategy ?? DeploymentStrategy()
            let count = request.instances ?? max(record.desiredInstances, 1)
            do throws(SpecError) {
                try Rollout.target(version: request.version, count: count, strategy: strategy).validate(maxInstances: context.configuration.maxInstances)
            } catch {
                throw DeploymentError(.invalidStrategy, error.description)
            }
            let running = await rollingDeployment
            if let running, request.supersede != true {
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
