import DroverCore

/// Every service's runner: one for each service the store knows, made when the service
/// comes to be (at the agent's start, at its first upload) and removed when it is deleted.
/// A lookup of a service that does not exist makes nothing.
actor RunnerRegistry {
    private var runners: [ServiceName: ServiceRunner] = [:]
    private let context: AgentContext
    /// Runners made and not started yet: `ServiceRunners` runs each as a child of its task group.
    nonisolated let made: AsyncStream<ServiceRunner>
    private nonisolated let madeContinuation: AsyncStream<ServiceRunner>.Continuation

    init(context: AgentContext) {
        self.context = context
        (made, madeContinuation) = AsyncStream.makeStream()
    }

    func runner(of service: ServiceName) -> ServiceRunner? { runners[service] }

    /// The runner of `service`, made now if it has none (for a service the store has, or one
    /// an upload is creating).
    func makeRunner(of service: ServiceName) -> ServiceRunner {
        if let runner = runners[service] { return runner }
        let runner = ServiceRunner(name: service, context: context)
        runners[service] = runner
        madeContinuation.yield(runner)
        return runner
    }

    /// Forgets a runner whose service is gone (deleted, or a first upload that failed).
    func remove(_ runner: ServiceRunner) async {
        guard runners[runner.name] === runner else { return }
        runners[runner.name] = nil
        await runner.markDeleted()
    }

    func all() -> [ServiceRunner] { Array(runners.values) }
}
