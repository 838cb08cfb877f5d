import DroverCore
import DroverSystemd
import Logging
import ServiceLifecycle

/// Runs the owners for as long as the agent runs: hands systemd's unit signals to the owner of
/// each unit's service, and ticks every owner's reconciler at `reconcile_interval` (a pass that
/// rereads every unit and checks the unit files, for whatever signals cannot tell). At
/// shutdown, every owner's rollouts and loops stop where they are; rollouts are recorded as
/// running and resume at the next start.
public struct OwnersService: Service {
    let agent: Agent

    public init(agent: Agent) {
        self.agent = agent
    }

    public func run() async throws {
        let changes = agent.systemd.unitChanges()
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await change in changes.cancelOnGracefulShutdown() {
                    guard let service = UnitNames.parseInstance(change.unit)?.service else { continue }
                    await agent.owners.existingOwner(of: service)?.unitChanged(change)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    guard (try? await Task.sleep(for: agent.configuration.reconcileInterval)) != nil else { break }
                    for owner in await agent.owners.all() {
                        await owner.markStale()
                        owner.pokeReconciler()
                    }
                }
            }
            try? await gracefulShutdown()
            agent.beginStopping()
            group.cancelAll()
        }
        for owner in await agent.owners.all() {
            await owner.stop()
        }
    }
}
