import DroverCore
import DroverSystemd
import Logging
import NIOPosix

extension Agent {
    /// Opens the state, cleans up what a crash may have left, makes sure every recorded
    /// release has its unit, and gives every service its runner: each converges its service
    /// at once (a count recorded before a crash, instances that failed while the agent was
    /// away), resumes a rollout left unfinished, and its autoscaling. Running instances are
    /// left alone. The runners' loops start when `ServiceRunners` runs.
    public static func start(configuration: AgentConfiguration, systemd: SystemdClient, logger: Logger) async throws -> Agent {
        try await start(configuration: configuration, unitControl: systemd, logger: logger)
    }

    /// `start` with any `UnitControl`: in-process tests of decisions use a stand-in.
    static func start(configuration: AgentConfiguration, unitControl systemd: any UnitControl, logger: Logger) async throws -> Agent {
        let files = ReleaseFiles(stateDirectory: configuration.stateDirectory)
        try await files.prepare()
        let path = configuration.storePath
        // Opening runs the migrations: blocking SQLite work, on the I/O pool.
        let store = try await NIOThreadPool.singleton.runIfActive { try StateStore(path: path) }
        try await AgentTokens.migrateTokenFile(at: configuration.tokenFile, into: store, logger: logger)
        if try await store.tokens().isEmpty {
            logger.warning("this agent has no API token yet: every request but health is refused. Make one on this host: drover-agent token add NAME --scope admin")
        }
        let context = AgentContext(
            configuration: configuration, store: store, files: files,
            units: UnitFiles(directory: configuration.unitDirectory, scope: configuration.scope, files: files),
            systemd: systemd,
            journal: JournalReader(source: configuration.journalDirectory.map { .directory($0) }
                ?? (configuration.scope == .system ? .system : .currentUser)),
            logger: logger, cgroups: CgroupReader.detect(), cpuRates: CPURates(), epoch: .now
        )
        let agent = Agent(context: context)
        try await agent.recover()
        for service in try await store.services() {
            _ = await agent.runners.makeRunner(of: service.name)
        }
        let unfinished = try await store.unfinishedDeployments()
        for (id, error) in unfinished.unreadable {
            logger.error("a deployment left unfinished cannot be resumed: its record is unreadable; marked failed",
                         metadata: ["deployment": "\(id)", "error": "\(error)"])
        }
        for deployment in unfinished.resumable {
            logger.notice("resuming a deployment the previous run left unfinished", metadata: ["deployment": "\(deployment.id)", "state": "\(deployment.state)"])
            await agent.runners.runner(of: deployment.service)?.beginRollout(deployment)
        }
        try await agent.restoreAutoscaling()
        return agent
    }

    /// Removes release directories the store does not know (an upload that crashed between
    /// rename and record) and rewrites unit files that are missing or changed (as every
    /// reconciler's full pass does later).
    private func recover() async throws {
        let (store, files, units, logger) = (context.store, context.files, context.units, context.logger)
        let releases = try await store.allReleases()
        let known = Set(releases.map { "\($0.service)/\($0.version)" })
        var changed = false
        for (service, version) in try await files.releasesOnDisk() where !known.contains("\(service)/\(version)") {
            logger.warning("removing an unrecorded release left by an interrupted upload", metadata: ["service": "\(service)", "version": "\(version)"])
            try await files.removeRelease(service, version)
            try await units.removeTemplate(service, version)
            changed = true
        }
        for service in try await store.services() {
            if try await UnitFileRepair(context: context).repair(service, reportUnrestorable: true) { changed = true }
        }
        if changed { try await context.systemd.reload() }
        await OneOffRuns.sweep(context)
    }

    /// Restores the autoscaling policies. A policy that no longer passes the checks (stored by
    /// an older agent, or over a lowered `max_instances`) is turned off, with the reason and
    /// the policy's text in the event log: it can never stop the agent.
    private func restoreAutoscaling() async throws {
        let store = context.store
        for stored in try await store.autoscalePolicies() {
            guard let runner = await runners.runner(of: stored.service) else { continue }
            let maxInstances = configuration.maxInstances, logger = context.logger
            try await runner.exclusively {
                do {
                    let policy = try stored.policy.get()
                    try policy.validate(maxInstances: maxInstances)
                    await runner.setAutoscale(policy)
                } catch {
                    let reason = "autoscaling turned off at start: the stored policy \(stored.text) is refused (\(DecodingErrorText(error))); "
                        + "the count stays where it is; set a valid policy to autoscale again"
                    logger.error("stored autoscaling policy refused; autoscaling is off", metadata: ["service": "\(stored.service)", "error": "\(error)"])
                    _ = try await store.deleteAutoscalePolicy(of: stored.service, because: reason)
                }
            }
        }
    }
}
