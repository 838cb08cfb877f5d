import Logging
import ServiceLifecycle

/// Runs deployments, each as a child task, for as long as the agent runs. On shutdown the
/// rollouts stop where they are; they are recorded as running and resume at the next start.
public struct DeploymentRunner: Service {
    let agent: Agent

    public init(agent: Agent) {
        self.agent = agent
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await deployment in agent.deploymentQueue.stream.cancelOnGracefulShutdown() {
                group.addTask { await agent.execute(deployment) }
            }
            group.cancelAll()
        }
    }
}
