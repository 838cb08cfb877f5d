import DroverAPI
import DroverCore
import DroverSystemd
import Foundation
import Logging
import NIOCore
import Synchronization

/// What the agent does for a host, as the API asks for it: a registry of service runners
/// and the entry points that find the right one. The runners do the work; the HTTP routes
/// are a thin layer over this.
///
/// State first, then actions: the store records what is wanted before systemd is asked, so a
/// crash in between leaves an intent to finish, never a forgotten change. Changes to one
/// service are serialized by its runner; different services never wait for each other.
public final class Agent: Sendable {
    let context: AgentContext
    let runners: RunnerRegistry
    /// Open log follows, bounded: each holds a journal open.
    let logFollowers: LogFollowerLimit
    /// The API's tokens, checked on every request.
    let tokens: AgentTokens
    /// One-off runs under way (release commands, `drover exec`).
    let runs: OneOffRuns
    /// Every service as last read, for the many clients that ask at once.
    let serviceList = ServiceListCache()
    /// Set once the agent's graceful shutdown has begun: health answers 503 from then on, so a
    /// client waiting for a restarted agent does not take the one still stopping for it.
    private let stopping = Atomic<Bool>(false)

    public var configuration: AgentConfiguration { context.configuration }
    /// Where CPU and memory come from (health reports it).
    public var cgroups: CgroupReader { context.cgroups }
    public var isStopping: Bool { stopping.load(ordering: .relaxed) }
    /// Whether the API is served over TLS (else plain HTTP, on loopback unless allowed).
    var servesTLS: Bool { context.configuration.tls }

    /// How this agent sends long-lived streams.
    func streamLimits(heartbeat: Duration = .seconds(15)) -> StreamLimits {
        StreamLimits(heartbeat: heartbeat, sendTimeout: context.configuration.sendTimeout)
    }
    func beginStopping() { stopping.store(true, ordering: .relaxed) }

    init(context: AgentContext) {
        self.context = context
        self.runners = RunnerRegistry(context: context)
        self.logFollowers = LogFollowerLimit(maximum: context.configuration.maxLogFollowers)
        self.runs = OneOffRuns(context: context)
        self.tokens = AgentTokens(store: context.store, limiter: AuthFailureLimiter(maxFailures: context.configuration.authFailuresPerMinute))
    }

    // MARK: Reading

    /// Every service, with its releases and instances.
    public func services() async throws -> [ServiceInfo] {
        try await servicesSnapshot().services
    }

    /// The services as of now: read again once anything they show has changed; otherwise a
    /// read renewed every quarter of a second (`ServiceListCache`).
    func servicesSnapshot() async throws -> ServiceListCache.Snapshot {
        try await serviceList.snapshot(at: context.store.changes.current) { try await self.readServices() }
    }

    /// Every service, read at once: one query for the records and one for all releases, and
    /// each service's instances from its runner's view, concurrently.
    private func readServices() async throws -> [ServiceInfo] {
        let records = try await context.store.services()
        let releases = Dictionary(grouping: try await context.store.allReleases(), by: \.service)
        return try await withThrowingTaskGroup(of: (Int, ServiceInfo?).self) { group in
            for (index, record) in records.enumerated() {
                group.addTask {
                    guard let runner = await self.runners.runner(of: record.name) else { return (index, nil) }
                    return (index, try await self.info(record, releases: releases[record.name] ?? [], runner: runner))
                }
            }
            var infos = [ServiceInfo?](repeating: nil, count: records.count)
            for try await (index, info) in group { infos[index] = info }
            return infos.compactMap { $0 }
        }
    }

    public func service(_ name: ServiceName) async throws -> ServiceInfo {
        let runner = try await runner(of: name)
        return try await info(try await runner.record(), runner: runner)
    }

    public func releases(of name: ServiceName) async throws -> [ReleaseInfo] {
        let record = try await runner(of: name).record()
        return try await context.store.releases(of: name).map { $0.info(current: $0.version == record.currentVersion, scope: context.configuration.scope) }
    }

    public func events(of service: ServiceName?, after: Int64? = nil, limit: Int) async throws -> [EventInfo] {
        try await context.store.events(of: service, after: after, limit: limit)
    }

    /// The instances systemd has of `name` (running, starting, stopping or failed), by slot,
    /// with their CPU, memory and pressure.
    public func instances(of name: ServiceName) async throws -> [InstanceInfo] {
        let runner = try await runner(of: name)
        // From the shared read if it is current; one service is not worth reading them all.
        if let snapshot = await serviceList.current(at: context.store.changes.current),
           let service = snapshot.services.first(where: { $0.name == name }) {
            return service.instances
        }
        return try await runner.instances()
    }

    public func deployment(_ id: String) async throws -> DeploymentInfo {
        guard let deployment = try await context.store.deployment(id) else {
            throw DeploymentError(.unknownDeployment, "there is no deployment \(id)")
        }
        return deployment
    }

    public func autoscaleInfo(_ service: ServiceName) async throws -> AutoscaleInfo {
        try await runner(of: service).autoscaleInfo()
    }

    public func limits(of service: ServiceName) async throws -> InstanceLimitsInfo {
        try await runner(of: service).limits()
    }

    // MARK: Changing

    func upload<Body: AsyncSequence & Sendable>(
        _ service: ServiceName, _ version: ReleaseVersion, _ upload: ReleaseInstaller.Upload, body: Body
    ) async throws -> (release: ReleaseInfo, created: Bool) where Body.Element == ByteBuffer {
        let runners = self.runners
        do {
            return try await ReleaseInstaller(context: context).install(service, version, upload, body: body) {
                await runners.makeRunner(of: service)
            }
        } catch {
            // A first upload that failed leaves no service, and so no runner.
            if try await context.store.service(service) == nil, let runner = await runners.runner(of: service) {
                await runners.remove(runner)
            }
            throw error
        }
    }

    public func scale(_ service: ServiceName, to requested: Int) async throws -> ScaleResult {
        guard (0...configuration.maxInstances).contains(requested) else {
            throw ScaleError(.invalidCount, "instances must be between 0 and \(configuration.maxInstances) (max_instances), not \(requested)")
        }
        return try await runner(of: service).scaleByHand(to: requested)
    }

    public func deploy(_ service: ServiceName, _ request: DeploymentRequest) async throws -> DeploymentInfo {
        try await runner(of: service).deploy(request)
    }

    public func rollback(_ service: ServiceName, to version: ReleaseVersion?, strategy: DeploymentStrategy? = nil) async throws -> DeploymentInfo {
        try await runner(of: service).rollback(to: version, strategy: strategy)
    }

    /// Promotes a deployment waiting as a canary (`POST /v1/deployments/{id}/promote`).
    public func promote(_ id: String) async throws -> DeploymentInfo {
        let deployment = try await self.deployment(id)
        return try await runner(of: deployment.service).promote(id)
    }

    /// Aborts a canary (`POST /v1/deployments/{id}/abort`): its canaries stop, the old release runs on.
    public func abort(_ id: String) async throws -> DeploymentInfo {
        let deployment = try await self.deployment(id)
        return try await runner(of: deployment.service).abort(id)
    }

    public func setAutoscale(_ service: ServiceName, _ policy: AutoscalePolicy) async throws -> AutoscaleInfo {
        do {
            try policy.validate(maxInstances: configuration.maxInstances)
        } catch {
            throw AutoscaleError(.invalidPolicy, "policy \(error)")
        }
        return try await runner(of: service).enableAutoscale(policy)
    }

    public func deleteAutoscale(_ service: ServiceName) async throws {
        try await runner(of: service).disableAutoscale()
    }

    public func setLimits(_ service: ServiceName, _ limits: InstanceLimits) async throws -> InstanceLimitsInfo {
        do {
            try limits.validate()
        } catch {
            throw LimitsError(.invalidLimits, "limits \(error)")
        }
        return try await runner(of: service).setLimits(limits)
    }

    public func deleteLimits(_ service: ServiceName) async throws {
        try await runner(of: service).removeLimits()
    }

    public func delete(_ service: ServiceName) async throws {
        let runner = try await runner(of: service)
        try await runner.delete()
        await runners.remove(runner)
    }

    // MARK: Helpers

    /// The runner of an existing service; unknown_service for any other name.
    func runner(of name: ServiceName) async throws -> ServiceRunner {
        guard let runner = await runners.runner(of: name) else {
            throw ServiceError(.unknownService, "there is no service \"\(name)\" on this host (upload a release of it first)")
        }
        return runner
    }

    private func info(_ record: StateStore.ServiceRecord, releases: [StateStore.ReleaseRecord]? = nil, runner: ServiceRunner) async throws -> ServiceInfo {
        var releases = releases ?? []
        if releases.isEmpty { releases = try await context.store.releases(of: record.name) }
        return ServiceInfo(
            name: record.name, currentVersion: record.currentVersion, desiredInstances: record.desiredInstances,
            releases: releases.map { $0.info(current: $0.version == record.currentVersion, scope: context.configuration.scope) },
            instances: try await InstanceReport(runner: runner).instances(of: record, releases: releases),
            autoscale: await runner.autoscale?.policy, limits: record.instanceLimits,
            deployment: try await runner.rollingDeployment.asyncFlatMap { try await context.store.deployment($0) }
        )
    }
}

extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
