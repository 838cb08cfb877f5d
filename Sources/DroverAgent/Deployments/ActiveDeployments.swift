import DroverAPI
import DroverCore
import Foundation

/// Which deployment runs for each service (at most one), and which were superseded. Rollout
/// tasks wait here, woken by changes rather than polling: for a superseded rollout of the
/// same service to stop, and for their own deployment to be superseded.
actor ActiveDeployments {
    private var running: [ServiceName: String] = [:]
    private var superseded: Set<String> = []
    /// Rollout tasks still executing, per service (a superseded one until it has stopped).
    private var executing: [ServiceName: Set<String>] = [:]
    /// Tasks waiting for the next change of the above.
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]

    func enter(_ deployment: DeploymentInfo) { executing[deployment.service, default: []].insert(deployment.id) }

    func leave(_ deployment: DeploymentInfo) {
        executing[deployment.service]?.remove(deployment.id)
        wakeAll()
    }

    /// Returns once no other rollout of the same service is executing (or the task is cancelled).
    func waitUntilAlone(_ deployment: DeploymentInfo) async {
        while !(executing[deployment.service] ?? []).subtracting([deployment.id]).isEmpty, !Task.isCancelled {
            await nextChange()
        }
    }

    /// Returns once the deployment is superseded (or the task is cancelled).
    func waitUntilSuperseded(_ id: String) async {
        while !superseded.contains(id), !Task.isCancelled {
            await nextChange()
        }
    }

    func current(of service: ServiceName) -> String? { running[service] }

    func begin(_ deployment: DeploymentInfo) { running[deployment.service] = deployment.id }

    func end(_ deployment: DeploymentInfo) {
        if running[deployment.service] == deployment.id { running[deployment.service] = nil }
        superseded.remove(deployment.id)
    }

    /// Tells a running deployment to stop where it is (a newer one takes over).
    func supersede(_ id: String, of service: ServiceName) {
        superseded.insert(id)
        if running[service] == id { running[service] = nil }
        wakeAll()
    }

    func isSuperseded(_ id: String) -> Bool { superseded.contains(id) }

    /// Suspends until the state changes or the task is cancelled.
    private func nextChange() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Checked and registered in one turn of the actor: a cancellation either came
                // before (resume now) or its wake-up runs after the registration.
                if Task.isCancelled { continuation.resume() } else { waiters[id] = continuation }
            }
        } onCancel: {
            Task { await self.wake(id) }
        }
    }

    private func wake(_ id: UUID) {
        waiters.removeValue(forKey: id)?.resume()
    }

    private func wakeAll() {
        let woken = waiters
        waiters = [:]
        for continuation in woken.values { continuation.resume() }
    }
}
