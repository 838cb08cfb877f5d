import DroverAPI
import DroverCore
import DroverSystemd
import Foundation
import Logging
import Synchronization

/// What the agent does for a host: install releases, run instances, forget services. The
/// HTTP routes are a thin layer over this.
///
/// State first, then actions: the store records what is wanted before systemd is asked, so a
/// crash in between leaves an intent to finish, never a forgotten change. Operations on one
/// service are serialized; different services never wait for each other.
public final class Agent: Sendable {
    public let configuration: AgentConfiguration
    let store: StateStore
    let files: ReleaseFiles
    let units: UnitFiles
    let systemd: SystemdClient
    let logger: Logger
    let journal: JournalReader
    /// Where CPU and memory come from when systemd does not report them (hybrid hierarchies).
    public let cgroups = CgroupReader.detect()
    /// CPU rates of instances as the API reports them.
    let cpuRates = CPURates()
    /// Open log follows, bounded: each holds a journal open.
    let logFollowers: LogFollowerLimit
    /// Each service's owner, through which every change to it goes.
    let owners: OwnerRegistry
    /// The origin of the reconciler's clock (`ReconcilePlanner` works in durations since it).
    let epoch = ContinuousClock.now
    /// Set once the agent's graceful shutdown has begun: health answers 503 from then on, so a
    /// client waiting for a restarted agent does not take the one still stopping for it.
    private let stopping = Atomic<Bool>(false)

    public var isStopping: Bool { stopping.load(ordering: .relaxed) }
    func beginStopping() { stopping.store(true, ordering: .relaxed) }

    /// Opens the state, cleans up what a crash may have left, and makes sure every recorded
    /// release has its unit. Running instances are left alone.
    public static func start(configuration: AgentConfiguration, systemd: SystemdClient, logger: Logger) async throws -> Agent {
        let files = ReleaseFiles(stateDirectory: configuration.stateDirectory)
        try files.prepare()
        let store = try StateStore(path: configuration.stateDirectory + "/state.sqlite")
        let agent = Agent(
            configuration: configuration, store: store, files: files,
            units: UnitFiles(directory: configuration.unitDirectory, scope: configuration.scope, files: files),
            systemd: systemd, logger: logger
        )
        try await agent.recover()
        // Every recorded service gets its owner now: its reconciler converges it at once (a
        // count recorded before a crash, instances that failed while the agent was away).
        for service in try await store.services() {
            await agent.owner(of: service.name).markStale()
        }
        let unfinished = try await store.unfinishedDeployments()
        for (id, error) in unfinished.unreadable {
            logger.error("a deployment left unfinished cannot be resumed: its record is unreadable; marked failed",
                         metadata: ["deployment": "\(id)", "error": "\(error)"])
        }
        for deployment in unfinished.resumable {
            logger.notice("resuming a deployment the previous run left unfinished", metadata: ["deployment": "\(deployment.id)", "state": "\(deployment.state)"])
            await agent.beginRollout(deployment)
        }
        try await agent.restoreAutoscaling()
        for owner in await agent.owners.all() { owner.pokeReconciler() }
        return agent
    }

    /// The owner of `service`, made (and its reconciler started) on first use.
    func owner(of service: ServiceName) async -> ServiceOwner {
        let (owner, isNew) = await owners.owner(of: service)
        if isNew { await owner.startReconciling { [self] in await reconcile(owner) } }
        return owner
    }

    /// Restarts the autoscaling loops of stored policies. A policy that no longer passes the
    /// checks (stored by an older agent, or over a lowered `max_instances`) is turned off, with
    /// the reason and the policy's text in the event log: it can never stop the agent.
    private func restoreAutoscaling() async throws {
        for stored in try await store.autoscalePolicies() {
            do {
                let policy = try stored.policy.get()
                try policy.validate(maxInstances: configuration.maxInstances)
                await owner(of: stored.service).setAutoscale(policy) { [self] in await autoscaleLoop(stored.service) }
            } catch {
                let reason = "autoscaling turned off at start: the stored policy \(stored.text) is refused (\(DecodingErrorText(error))); "
                    + "the count stays where it is; set a valid policy to autoscale again"
                logger.error("stored autoscaling policy refused; autoscaling is off", metadata: ["service": "\(stored.service)", "error": "\(error)"])
                _ = try await store.deleteAutoscalePolicy(of: stored.service, because: reason)
            }
        }
    }

    private init(configuration: AgentConfiguration, store: StateStore, files: ReleaseFiles, units: UnitFiles,
                 systemd: SystemdClient, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.files = files
        self.units = units
        self.systemd = systemd
        self.logger = logger
        self.logFollowers = LogFollowerLimit(maximum: configuration.maxLogFollowers)
        self.owners = OwnerRegistry(make: { ServiceOwner(name: $0, systemd: systemd) })
        self.journal = JournalReader(source: configuration.journalDirectory.map { .directory($0) }
            ?? (configuration.scope == .system ? .system : .currentUser))
    }

    /// Removes release directories the store does not know (an upload that crashed between
    /// rename and record) and rewrites unit files that are missing or changed (as every
    /// reconciler's full pass does later).
    private func recover() async throws {
        let releases = try await store.allReleases()
        let known = Set(releases.map { "\($0.service)/\($0.version)" })
        var changed = false
        for (service, version) in files.releasesOnDisk() where !known.contains("\(service)/\(version)") {
            logger.warning("removing an unrecorded release left by an interrupted upload", metadata: ["service": "\(service)", "version": "\(version)"])
            files.removeRelease(service, version)
            units.removeTemplate(service, version)
            changed = true
        }
        for service in try await store.services() {
            if try await repairUnitFiles(of: service, reportUnrestorable: true) { changed = true }
        }
        if changed { try await systemd.reload() }
    }

    // MARK: Reading

    public func services() async throws -> [ServiceInfo] {
        var result: [ServiceInfo] = []
        for record in try await store.services() {
            result.append(try await info(record))
        }
        return result
    }

    public func service(_ name: ServiceName) async throws -> ServiceInfo {
        try await info(try existing(name))
    }

    public func releases(of name: ServiceName) async throws -> [ReleaseInfo] {
        let record = try await existing(name)
        return try await store.releases(of: name).map { releaseInfo($0, current: $0.version == record.currentVersion) }
    }

    public func events(of service: ServiceName?, after: Int64? = nil, limit: Int) async throws -> [EventInfo] {
        try await store.events(of: service, after: after, limit: limit)
    }

    /// The instances systemd has of `name` (running, starting, stopping or failed), by slot,
    /// with their CPU, memory and pressure.
    /// `fresh`: read the cgroups now, for a caller that measures (the autoscaler); otherwise a
    /// reading up to `Agent.readingMaxAge` old serves (reads of many instances stay cheap).
    public func instances(of name: ServiceName, fresh: Bool = false) async throws -> [InstanceInfo] {
        try await instances(of: try existing(name), releases: try store.releases(of: name), fresh: fresh)
    }

    /// How old a cgroup reading may be for the API and `/metrics`.
    static let readingMaxAge: Duration = .seconds(1)

    private func instances(of record: StateStore.ServiceRecord, releases: [StateStore.ReleaseRecord], fresh: Bool = false) async throws -> [InstanceInfo] {
        let name = record.name
        let ports = try await store.allPorts(of: name)
        // The limits each release's instances run with: the spec's, or a live resize's.
        let limits = Dictionary(releases.map { release in
            (release.version, record.instanceLimits?.applied(to: release.spec.resources) ?? release.spec.resources)
        }, uniquingKeysWith: { first, _ in first })
        let owner = await owner(of: name)
        let crashLoops = await owner.crashLoops
        let now = ContinuousClock.now
        var result: [InstanceInfo] = []
        var usage: [String: CgroupUsage] = [:]
        // The owner's view is kept current by systemd's signals, and its cgroup readings are
        // at most a second old: a read costs no round trip and no file per instance.
        let statuses = await owner.instanceUnits()
        let readings = await owner.readings(of: statuses, from: cgroups, maxAge: fresh ? .zero : Self.readingMaxAge)
        var readAt: [String: ContinuousClock.Instant] = [:]
        for status in statuses {
            guard let parsed = UnitNames.parseInstance(status.name) else { continue }
            let reading = readings[status.name]?.usage ?? CgroupUsage()
            readAt[status.name] = readings[status.name]?.at
            usage[status.name] = reading
            let limit = limits[parsed.version]
            var info = InstanceInfo(
                unit: status.name, slot: parsed.slot, version: parsed.version, port: ports[parsed.slot],
                activeState: status.activeState, subState: status.subState, mainPID: status.mainPID,
                memoryBytes: reading.memoryBytes,
                memoryOfMax: fraction(reading.memoryBytes.map { Double($0) }, of: limit?.memoryBytes.map { Double($0) }),
                cpuNanoseconds: reading.cpuMicroseconds.map { $0 * 1000 },
                cpuPressure: reading.cpuPressure, memoryPressure: reading.memoryPressure,
                cpuQuotaPercent: limit?.cpuPercent, memoryMaxBytes: limit?.memoryBytes,
                restarts: status.restartCount, failure: status.isFailed ? Self.failure(of: status) : nil
            )
            if status.isFailed, parsed.version == record.currentVersion, let held = crashLoops[parsed.slot] {
                let seconds = max(0, Int((held.nextTry - now) / .seconds(1)))
                info.crashLoop = "crash-looping: \(held.failure); next try in \(seconds) s"
            }
            result.append(info)
        }
        // A slot the agent stopped at its start limit (a `listen` service's) is inactive, not
        // failed: it is listed all the same while it waits out its back-off.
        if let current = record.currentVersion {
            for (slot, held) in crashLoops.sorted(by: { $0.key < $1.key }) where !result.contains(where: { $0.slot == slot && $0.version == current }) {
                var info = InstanceInfo(unit: UnitNames.instance(name, current, slot: slot), slot: slot, version: current, port: ports[slot],
                                        activeState: "inactive", subState: "dead", mainPID: nil, memoryBytes: nil, cpuNanoseconds: nil,
                                        restarts: nil, failure: held.failure)
                info.crashLoop = "crash-looping: \(held.failure); next try in \(max(0, Int((held.nextTry - now) / .seconds(1)))) s"
                result.append(info)
            }
        }
        let rates = await cpuRates.rates(of: name, usage.compactMapValues(\.cpuMicroseconds), at: readAt)
        for index in result.indices {
            let cores = rates[result[index].unit]
            result[index].cpuCores = cores
            let quota = result[index].cpuQuotaPercent.map { Double($0) / 100 }
            result[index].cpuOfQuota = fraction(cores, of: quota)
        }
        return result.sorted { ($0.slot, $0.version.rawValue) < ($1.slot, $1.version.rawValue) }
    }

    private func fraction(_ value: Double?, of limit: Double?) -> Double? {
        guard let value, let limit, limit > 0 else { return nil }
        return value / limit
    }

    // MARK: Helpers

    func existing(_ name: ServiceName) async throws -> StateStore.ServiceRecord {
        guard let record = try await store.service(name) else {
            throw ServiceError(.unknownService, "there is no service \"\(name)\" on this host (upload a release of it first)")
        }
        return record
    }

    private func info(_ record: StateStore.ServiceRecord) async throws -> ServiceInfo {
        let releases = try await store.releases(of: record.name)
        return ServiceInfo(
            name: record.name, currentVersion: record.currentVersion, desiredInstances: record.desiredInstances,
            releases: releases.map { releaseInfo($0, current: $0.version == record.currentVersion) },
            instances: try await instances(of: record, releases: releases),
            autoscale: await owner(of: record.name).autoscale?.policy, limits: record.instanceLimits
        )
    }

    func releaseInfo(_ record: StateStore.ReleaseRecord, current: Bool) -> ReleaseInfo {
        ReleaseInfo(service: record.service, version: record.version, sha256: record.sha256, size: record.size,
                    kind: record.kind, files: record.files, createdAt: record.createdAt, current: current, spec: record.spec)
    }

    /// Why an instance is not running, in words: "exited with status 3", "killed by signal 9", …
    static func failure(of status: UnitStatus) -> String {
        let result = status.result ?? "unknown"
        switch (status.execMainCode, status.execMainStatus) {
        case (.exited?, let code?): return "\(result): exited with status \(code)"
        case (.killed?, let signal?), (.dumped?, let signal?): return "\(result): killed by signal \(signal)"
        default: return result
        }
    }
}
