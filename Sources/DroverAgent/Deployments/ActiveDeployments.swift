import DroverAPI
import DroverCore

/// Which deployment runs for each service (at most one), and which were superseded.
actor ActiveDeployments {
    private var running: [ServiceName: String] = [:]
    private var superseded: Set<String> = []
    /// Rollout tasks still executing, per service (a superseded one until it has stopped).
    private var executing: [ServiceName: Set<String>] = [:]

    func enter(_ deployment: DeploymentInfo) { executing[deployment.service, default: []].insert(deployment.id) }

    func leave(_ deployment: DeploymentInfo) { executing[deployment.service]?.remove(deployment.id) }

    /// Whether another rollout of the same service is still executing.
    func othersExecuting(_ deployment: DeploymentInfo) -> Bool {
        !(executing[deployment.service] ?? []).subtracting([deployment.id]).isEmpty
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
    }

    func isSuperseded(_ id: String) -> Bool { superseded.contains(id) }
}
