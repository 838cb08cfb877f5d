import DroverAPI
import DroverCore

/// Which deployment runs for each service (at most one), and which were superseded.
actor ActiveDeployments {
    private var running: [ServiceName: String] = [:]
    private var superseded: Set<String> = []

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
