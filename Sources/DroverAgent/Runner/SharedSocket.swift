import DroverCore
import DroverSystemd

/// A `listen` service's shared socket and its holder: both must run before any instance
/// starts (instances inherit the socket; the holder keeps it from activating).
struct SharedSocket {
    let context: AgentContext
    let service: ServiceName

    /// Starts the socket and its holder if `spec` listens. A socket that cannot listen (the
    /// port is taken, the address is not this host's) fails the request that needed it,
    /// saying so, and is reset so that a later try starts clean.
    func ensure(for spec: ServiceSpec) async throws {
        guard let listen = spec.listen else { return }
        let systemd = context.systemd
        let socket = UnitNames.socket(service), holder = UnitNames.socketHolder(service)
        do {
            do {
                try await systemd.startUnit(socket)
            } catch let error as SystemdError where error.code == .jobFailed {
                // A socket stopped behind the agent's back leaves its port held by the holder,
                // which inherited it: with no instance running, a new holder lets it listen again.
                guard (try? await runningInstances()) == 0 else { throw error }
                try? await systemd.resetFailed(socket)
                try await systemd.stopUnit(holder)
                try await systemd.startUnit(socket)
            }
        } catch let error as SystemdError {
            try? await systemd.resetFailed(socket)
            let cause = error.code == .jobFailed ? "systemd could not bind it" : error.message
            try? await context.store.record("socket.failed", service: service, "\(socket) could not listen on \(listen): \(cause)")
            // Instances that still run hold the socket they inherited: then the port is the
            // service's own, and another address would not help.
            let running = (try? await runningInstances()) ?? 0
            let advice = running > 0
                ? "its \(running) running instance(s) still hold the port they inherited before \(socket) stopped (was it stopped by hand?); "
                    + "scale \(service) to 0 and back to listen anew"
                : "is another process using that port, or is the address not one of this host's? Deploy a release with another listen address"
            throw ScaleError(.socketFailed, "\(service)'s shared socket could not listen on \(listen) (\(cause)): \(advice)")
        }
        try await systemd.startUnit(holder)
    }

    private func runningInstances() async throws -> Int {
        try await context.systemd.listUnits(matching: [UnitNames.instancePattern(service)])
            .filter { $0.state.isUp || $0.state == .stopping }.count
    }
}
