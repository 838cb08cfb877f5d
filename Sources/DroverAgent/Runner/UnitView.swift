import DroverCore
import DroverSystemd

/// A service's instance units as systemd last said, kept current by its signals: reading
/// the service's state costs no round trip and no file per instance. A signalled unit is read
/// again at the next use; a stale view (the start, the slow tick) is listed again whole.
actor UnitView {
    nonisolated let service: ServiceName
    private let systemd: any UnitControl
    /// Told of every change the view learns of or is told of (answers computed before are stale).
    private let stateChanges: StateChanges?

    private var units: [String: UnitStatus] = [:]
    private var dirty: Set<String> = []
    private var stale = true
    /// A read is under way: a caller that arrives meanwhile waits for it (its result is newer
    /// than the view) instead of starting another.
    private var isRefreshing = false
    private let refreshed = Wakeup()
    /// Every unit systemd signals a change of, as it comes: log followers take new instances from it.
    nonisolated let unitNames = UnitNameBroadcast()
    /// Woken by every change: a rollout waits on it for its instances.
    nonisolated let changes = Wakeup()

    init(service: ServiceName, systemd: any UnitControl, stateChanges: StateChanges? = nil) {
        self.service = service
        self.systemd = systemd
        self.stateChanges = stateChanges
    }

    /// systemd said a unit changed: it is read again before the view is used.
    func unitChanged(_ change: UnitChange) {
        // Removed too is read again (by listing, which does not load it): a reload unloads
        // and loads every unit, and the view must not lose them in between.
        dirty.insert(change.unit)
        stateChanges?.note()
        unitNames.yield(change.unit)
        changes.signal()
    }

    /// Read every unit again at the next use.
    func markStale() {
        stale = true
        stateChanges?.note()
    }

    /// Units the runner just changed: read again before the view is next used. `stopped`
    /// ones (whose stop job succeeded) leave the view instead.
    func touched(_ names: [String], stopped: [String] = []) {
        stateChanges?.note()
        dirty.formUnion(names)
        // A stop job that finished leaves the unit inactive: nothing to read (a later change
        // of it, such as failing on its way down, is signalled and read then).
        for unit in stopped {
            units[unit] = nil
            // A read under way may have asked before the stop and would put it back as it
            // was (active): then it is read again at the next use, which finds it gone.
            if isRefreshing { dirty.insert(unit) } else { dirty.remove(unit) }
        }
    }

    /// The service's instance units (those not idle), current as of systemd's latest signal.
    /// At most one read of what changed since the last, after any read under way: changes
    /// that arrive meanwhile are read at the next use, so a stream of signals cannot hold a
    /// reader.
    func instanceUnits() async -> [UnitStatus] {
        while isRefreshing, !Task.isCancelled { await refreshed.wait() }
        if !isRefreshing, stale || !dirty.isEmpty {
            isRefreshing = true
            await refreshOnce()
            isRefreshing = false
            refreshed.signal()
        }
        return units.values.sorted { $0.name < $1.name }
    }

    private func refreshOnce() async {
        if stale {
            stale = false
            dirty.removeAll()
            do {
                // One listing; properties are read again only for units whose state differs
                // from the view's (or that are new), so a tick over an idle service costs one call.
                let listed = try await systemd.listUnits(matching: [UnitNames.instancePattern(service)])
                    .filter { $0.state != .idle }
                let changed = listed.filter { entry in
                    guard let known = units[entry.name] else { return true }
                    return known.activeState != entry.activeState || known.subState != entry.subState || known.jobID != entry.jobID
                }
                let statuses = await systemd.statuses(of: changed.map(\.name))
                var fresh: [String: UnitStatus] = [:]
                for entry in listed {
                    if let status = statuses[entry.name] ?? units[entry.name], isInstance(status) { fresh[entry.name] = status }
                }
                units = fresh
            } catch {
                // Unreadable now: keep the last view; the next use tries again.
                stale = true
            }
            return
        }
        // Listed first, by name: asking for an unloaded unit's properties would load it (and
        // systemd would signal that, and unload it again).
        let names = dirty
        dirty.removeAll()
        do {
            let listed = try await systemd.listUnits(matching: Array(names))
            let live = listed.filter { $0.state != .idle }.map(\.name)
            let statuses = await systemd.statuses(of: live)
            for unit in names {
                if let status = statuses[unit], isInstance(status) { units[unit] = status } else { units[unit] = nil }
            }
        } catch {
            stale = true
        }
    }

    private func isInstance(_ status: UnitStatus) -> Bool {
        UnitNames.parseInstance(status.name)?.service == service && status.state != .idle
    }

    // MARK: Readings

    /// The latest cgroup reading of each unit and when it was taken.
    private var usage: [String: (at: ContinuousClock.Instant, usage: CgroupUsage)] = [:]
    private var mainPIDs: [String: Int32?] = [:]

    /// Each unit's CPU, memory and pressure: read from its cgroup files when the last reading
    /// is older than `maxAge`, else the last one. A unit whose main process changed is read
    /// afresh (a restart starts its counters over). The files are read on the I/O pool, in one
    /// go for all the units that need it.
    func readings(of statuses: [UnitStatus], from reader: CgroupReader, maxAge: Duration) async -> [String: (at: ContinuousClock.Instant, usage: CgroupUsage)] {
        let now = ContinuousClock.now
        var fresh: [String: (at: ContinuousClock.Instant, usage: CgroupUsage)] = [:]
        var stale: [UnitStatus] = []
        for status in statuses {
            if let last = usage[status.name], now - last.at <= maxAge, maxAge > .zero, mainPIDs[status.name] == status.mainPID {
                fresh[status.name] = last
            } else {
                stale.append(status)
            }
        }
        let groups = stale.map(\.controlGroup)
        let read = groups.isEmpty ? [] : (try? await blockingIO { groups.map { $0.map(reader.usage(of:)) } }) ?? groups.map { _ in nil }
        for (status, reading) in zip(stale, read) {
            var reading = reading ?? CgroupUsage()
            reading.memoryBytes = reading.memoryBytes ?? status.memoryCurrent
            reading.cpuMicroseconds = reading.cpuMicroseconds ?? status.cpuUsageNanoseconds.map { $0 / 1000 }
            fresh[status.name] = (now, reading)
            mainPIDs[status.name] = status.mainPID
        }
        usage = fresh
        mainPIDs = mainPIDs.filter { fresh[$0.key] != nil }
        return fresh
    }
}
