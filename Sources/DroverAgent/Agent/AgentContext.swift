import DroverSystemd
import Logging

/// What the agent's parts share: the host's configuration and the adapters to the outside
/// (state store, release and unit files, systemd, journal, cgroups). Runners and their parts
/// take this, not the `Agent`: they never reach back into the facade.
struct AgentContext: Sendable {
    let configuration: AgentConfiguration
    let store: StateStore
    let files: ReleaseFiles
    let units: UnitFiles
    let systemd: any UnitControl
    let journal: JournalReader
    let logger: Logger
    /// Where CPU and memory come from when systemd does not report them (hybrid hierarchies).
    let cgroups: CgroupReader
    /// CPU rates of instances as the API reports them.
    let cpuRates: CPURates
    /// The origin of the reconciler's clock (`ReconcilePlanner` works in durations since it).
    let epoch: ContinuousClock.Instant
}
