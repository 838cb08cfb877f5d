import DroverAPI
import DroverCore
import DroverSystemd

/// A service's instances as the API shows them: systemd's view of each (running, starting,
/// stopping or failed), by slot, with its port, CPU, memory, pressure and limits, and the
/// slots held back in a crash loop.
struct InstanceReport {
    let runner: ServiceRunner

    /// How old a cgroup reading may be for the API and `/metrics`.
    static let readingMaxAge: Duration = .seconds(1)

    /// `fresh`: read the cgroups now, for a caller that measures (the autoscaler); otherwise a
    /// reading up to `readingMaxAge` old serves (reads of many instances stay cheap).
    func instances(of record: StateStore.ServiceRecord, releases: [StateStore.ReleaseRecord], fresh: Bool = false) async throws -> [InstanceInfo] {
        let context = runner.context
        let name = record.name
        let ports = try await runner.slotPorts()
        // The limits each release's instances run with: the spec's, or a live resize's.
        let limits = Dictionary(releases.map { release in
            (release.version, record.instanceLimits?.applied(to: release.spec.resources) ?? release.spec.resources)
        }, uniquingKeysWith: { first, _ in first })
        let crashLoops = await runner.crashLoops
        let now = ContinuousClock.now
        var result: [InstanceInfo] = []
        var usage: [String: CgroupUsage] = [:]
        // The view is kept current by systemd's signals, and its cgroup readings are at most
        // a second old: a read costs no round trip and no file per instance.
        let statuses = await runner.view.instanceUnits()
        let readings = await runner.view.readings(of: statuses, from: context.cgroups, maxAge: fresh ? .zero : Self.readingMaxAge)
        var readAt: [String: ContinuousClock.Instant] = [:]
        func crashLoop(_ held: (failure: String, nextTry: ContinuousClock.Instant)) -> String {
            "crash-looping: \(held.failure); next try in \(max(0, Int((held.nextTry - now) / .seconds(1)))) s"
        }
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
                restarts: status.restartCount, failure: status.state == .failed ? InstanceFailure.describe(status) : nil
            )
            if status.state == .failed, parsed.version == record.currentVersion, let held = crashLoops[parsed.slot] {
                info.crashLoop = crashLoop(held)
            }
            result.append(info)
        }
        // A slot the runner stopped at its start limit (a `listen` service's) is inactive, not
        // failed: it is listed all the same while it waits out its back-off.
        if let current = record.currentVersion {
            for (slot, held) in crashLoops.sorted(by: { $0.key < $1.key }) where !result.contains(where: { $0.slot == slot && $0.version == current }) {
                var info = InstanceInfo(unit: UnitNames.instance(name, current, slot: slot), slot: slot, version: current, port: ports[slot],
                                        activeState: "inactive", subState: "dead", mainPID: nil, memoryBytes: nil, cpuNanoseconds: nil,
                                        restarts: nil, failure: held.failure)
                info.crashLoop = crashLoop(held)
                result.append(info)
            }
        }
        let rates = await context.cpuRates.rates(of: name, usage.compactMapValues(\.cpuMicroseconds), at: readAt)
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
}

extension ServiceRunner {
    /// The service's record, or unknown_service: it was deleted since the runner was found.
    func record() async throws -> StateStore.ServiceRecord {
        guard let record = try await context.store.service(name) else {
            throw ServiceError(.unknownService, "there is no service \"\(name)\" on this host (upload a release of it first)")
        }
        return record
    }

    func instances(fresh: Bool = false) async throws -> [InstanceInfo] {
        try await InstanceReport(runner: self).instances(of: try await record(), releases: try await context.store.releases(of: name), fresh: fresh)
    }
}
