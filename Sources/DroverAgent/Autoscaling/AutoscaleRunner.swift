import DroverCore
import ServiceLifecycle

/// Runs one autoscaling loop per service that has a policy, each a child task, for as long as
/// the agent runs. A loop ends by itself when its policy is removed.
public struct AutoscaleRunner: Service {
    let agent: Agent

    public init(agent: Agent) {
        self.agent = agent
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await (service, loop) in agent.autoscaleQueue.stream.cancelOnGracefulShutdown() {
                group.addTask { await agent.autoscaleLoop(service, loop: loop) }
            }
            group.cancelAll()
        }
    }
}
