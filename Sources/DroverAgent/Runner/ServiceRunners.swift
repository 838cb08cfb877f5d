import DroverCore
import DroverSystemd
import Logging
import ServiceLifecycle

/// Runs the service runners for as long as the agent runs, each as a child of one task group:
/// hands systemd's unit signals to the runner of each unit's service, and ticks every runner's
/// reconciler at `reconcile_interval` (a pass that rereads every unit and checks the unit
/// files, for whatever signals cannot tell). At shutdown every runner's loops stop where they
/// are; rollouts are recorded as running and resume at the next start.
public struct ServiceRunners: Service {
    let agent: Agent

    public init(agent: Agent) {
        self.agent = agent
    }

    public func run() async throws {
        let (registry, context) = (agent.runners, agent.context)
        let changes = context.systemd.unitChanges()
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await change in changes {
                    guard let service = UnitNames.parseInstance(change.unit)?.service else { continue }
                    await registry.runner(of: service)?.unitChanged(change)
                }
            }
            group.addTask {
                while (try? await Task.sleep(for: context.configuration.reconcileInterval)) != nil {
                    for runner in await registry.all() { await runner.tick() }
                }
            }
            for await runner in registry.made.cancelOnGracefulShutdown() {
                group.addTask { await runner.run() }
            }
            agent.beginStopping()
            group.cancelAll()
        }
    }
}
