import DroverAPI
import DroverCore
import DroverSystemd
import Foundation

/// The one writer of a service's state on this host.
///
/// Every change to a service goes through its owner: API calls, rollout steps, autoscaling
/// decisions, the reconciler and delete each run as an exclusive section
/// (`exclusively(_:)`), one at a time and in arrival order, so no two of them ever interleave
/// their reads and writes of the store or of systemd. Different services have different
/// owners and never wait for each other.
///
/// The owner also holds what is live rather than stored: the running rollout (at most one),
/// the autoscaling loop and its state, the crash-loop back-off of each slot, and a view of the
/// service's units kept current by systemd's signals, so reading state does not ask systemd
/// about every unit again.
actor ServiceOwner {
    nonisolated let name: ServiceName
    private let systemd: SystemdClient

    init(name: ServiceName, systemd: SystemdClient) {
        self.name = name
        self.systemd = systemd
        (pokes, poke) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: Exclusive sections

    private var busy = false
    private var queue: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` as the service's only change in progress.
    func exclusively<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { queue.append($0) }
        } else {
            busy = true
        }
        defer { handOver() }
        return try await body()
    }

    private func handOver() {
        if queue.isEmpty { busy = false } else { queue.removeFirst().resume() }
    }

    // MARK: The rollout

    /// The deployment rolling out, and its task. A newer one cancels it and starts once it has
    /// stopped; delete cancels it and waits for it.
    private(set) var rollout: (id: String, task: Task<Void, Never>)?

    /// Starts `body` as the service's rollout once the previous one (cancelled here) has stopped.
    func beginRollout(_ id: String, _ body: @escaping @Sendable () async -> Void) {
        let previous = rollout?.task
        previous?.cancel()
        rollout = (id, Task {
            await previous?.value
            await body()
        })
    }

    /// Called by a rollout when it ends, whatever the outcome: the count is the reconciler's again.
    func rolloutEnded(_ id: String) {
        if rollout?.id == id { rollout = nil }
        pokeReconciler()
    }

    /// Cancels the running rollout and returns once it has stopped.
    func cancelRollout() async {
        let task = rollout?.task
        task?.cancel()
        await task?.value
    }

    // MARK: Autoscaling

    private(set) var autoscale: AutoscaleState?
    private var autoscaleLoop: Task<Void, Never>?

    /// Sets the policy; a changed one restarts the loop (its first round only takes readings).
    func setAutoscale(_ policy: AutoscalePolicy, loop: @escaping @Sendable () async -> Void) {
        if autoscale?.policy == policy, autoscaleLoop != nil { return }
        autoscale = AutoscaleState(policy: policy)
        // One loop at a time: the new one starts once the old one has seen its cancellation.
        let previous = autoscaleLoop
        previous?.cancel()
        autoscaleLoop = Task {
            await previous?.value
            await loop()
        }
    }

    func removeAutoscale() {
        autoscaleLoop?.cancel()
        autoscaleLoop = nil
        autoscale = nil
    }

    func updateAutoscale<T>(_ change: (inout AutoscaleState) -> T) -> T? {
        guard autoscale != nil else { return nil }
        return change(&autoscale!)
    }

    // MARK: The live view of the units

    private var units: [String: UnitStatus] = [:]
    /// Every unit systemd signals a change of, as it comes: log followers take new instances from it.
    nonisolated let unitNames = UnitNameBroadcast()
    private var dirty: Set<String> = []
    private var stale = true
    /// The read under way, if any (numbered, so only its starter clears it).
    private var refreshing: (id: Int, task: Task<Void, Never>)?
    private var refreshCount = 0
    private var changeWaiters: [UUID: (continuation: CheckedContinuation<Void, Never>, timer: Task<Void, Never>)] = [:]

    /// systemd said a unit changed: it is read again before the view is used, waiting rollouts
    /// wake up, and the reconciler looks.
    func unitChanged(_ change: UnitChange) {
        unitNames.yield(change.unit)
        // Removed too is read again (by listing, which does not load it): a reload unloads
        // and loads every unit, and the view must not lose them in between.
        dirty.insert(change.unit)
        for waiter in changeWaiters.values {
            waiter.timer.cancel()
            waiter.continuation.resume()
        }
        changeWaiters.removeAll()
        // A rollout owns the count while it runs; the reconciler looks again when it ends.
        if rollout == nil { pokeReconciler() }
    }

    /// Read every unit again at the next use, and check the unit files at the next reconcile
    /// pass (the slow ticker, the start, and after anything that may have missed signals).
    func markStale() {
        stale = true
        fullPassDue = true
    }

    /// Units this owner just changed: read again before the view is next used. `stopped`
    /// ones (whose stop job succeeded) leave the view instead.
    func touched(_ names: [String], stopped: [String] = []) {
        dirty.formUnion(names)
        // A stop job that finished leaves the unit inactive: nothing to read (a later change
        // of it, such as failing on its way down, is signalled and read then).
        for unit in stopped {
            units[unit] = nil
            dirty.remove(unit)
        }
    }

    /// The service's instance units (those not idle), current as of systemd's latest signal.
    /// At most one read of what changed since the last, after any read under way (whose
    /// results are newer than the view): changes that arrive meanwhile are read at the next
    /// use, so a stream of signals cannot hold a reader.
    func instanceUnits() async -> [UnitStatus] {
        await finishRefreshing()
        if stale || !dirty.isEmpty {
            refreshCount += 1
            let id = refreshCount
            let task = Task { await self.refreshOnce() }
            refreshing = (id, task)
            await task.value
            if refreshing?.id == id { refreshing = nil }
        }
        await finishRefreshing()
        return units.values.sorted { $0.name < $1.name }
    }

    private func finishRefreshing() async {
        while let current = refreshing {
            await current.task.value
            if refreshing?.id == current.id { refreshing = nil }
        }
    }

    private func refreshOnce() async {
        if stale {
            stale = false
            dirty.removeAll()
            do {
                // One listing; properties are read again only for units whose state differs
                // from the view's (or that are new), so a tick over an idle service costs one call.
                let listed = try await systemd.listUnits(matching: [UnitNames.instancePattern(name)])
                    .filter { InstanceState(activeState: $0.activeState, hasJob: $0.jobID != 0) != .idle }
                let changed = listed.filter { entry in
                    guard let known = units[entry.name] else { return true }
                    return known.activeState != entry.activeState || known.subState != entry.subState || known.jobID != entry.jobID
                }
                let statuses = await systemd.statuses(of: changed.map(\.name))
                var fresh: [String: UnitStatus] = [:]
                for entry in listed {
                    if let status = statuses[entry.name] ?? units[entry.name], Self.isInstance(status, of: name) { fresh[entry.name] = status }
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
            let live = listed.filter { InstanceState(activeState: $0.activeState, hasJob: $0.jobID != 0) != .idle }.map(\.name)
            let statuses = await systemd.statuses(of: live)
            for unit in names {
                if let status = statuses[unit], Self.isInstance(status, of: name) { units[unit] = status } else { units[unit] = nil }
            }
        } catch {
            stale = true
        }
    }

    private static func isInstance(_ status: UnitStatus, of service: ServiceName) -> Bool {
        UnitNames.parseInstance(status.name)?.service == service
            && InstanceState(activeState: status.activeState, hasJob: status.jobID != 0) != .idle
    }

    /// The latest cgroup reading of each unit and when it was taken.
    private var usage: [String: (at: ContinuousClock.Instant, usage: CgroupUsage)] = [:]

    /// Each unit's CPU, memory and pressure: read from its cgroup files when the last reading
    /// is older than `maxAge`, else the last one. A unit whose main process changed is read
    /// afresh (a restart starts its counters over).
    func readings(of statuses: [UnitStatus], from reader: CgroupReader, maxAge: Duration) -> [String: (at: ContinuousClock.Instant, usage: CgroupUsage)] {
        let now = ContinuousClock.now
        var fresh: [String: (at: ContinuousClock.Instant, usage: CgroupUsage)] = [:]
        for status in statuses {
            if let last = usage[status.name], now - last.at <= maxAge, maxAge > .zero, mainPIDs[status.name] == status.mainPID {
                fresh[status.name] = last
                continue
            }
            var reading = status.controlGroup.map(reader.usage(of:)) ?? CgroupUsage()
            reading.memoryBytes = reading.memoryBytes ?? status.memoryCurrent
            reading.cpuMicroseconds = reading.cpuMicroseconds ?? status.cpuUsageNanoseconds.map { $0 / 1000 }
            fresh[status.name] = (now, reading)
            mainPIDs[status.name] = status.mainPID
        }
        usage = fresh
        mainPIDs = mainPIDs.filter { fresh[$0.key] != nil }
        return fresh
    }

    private var mainPIDs: [String: Int32?] = [:]

    /// Suspends until a unit of the service changes, `limit` passes, or the task is cancelled.
    func nextChange(within limit: Duration) async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled || !dirty.isEmpty {
                    continuation.resume()
                    return
                }
                changeWaiters[id] = (continuation, Task {
                    guard (try? await Task.sleep(for: limit)) != nil else { return }
                    self.wake(id)
                })
            }
        } onCancel: {
            Task { await self.wake(id) }
        }
    }

    private func wake(_ id: UUID) {
        guard let waiter = changeWaiters.removeValue(forKey: id) else { return }
        waiter.timer.cancel()
        waiter.continuation.resume()
    }

    // MARK: The reconciler

    /// Each slot's crash-loop back-off, and what the API shows of a slot held back.
    var backoff: [Int: CrashLoopBackoff] = [:]
    /// Crashed slots held back: why each crashed (with its last lines), and its next try.
    var crashLoops: [Int: (failure: String, nextTry: ContinuousClock.Instant)] = [:]
    private var fullPassDue = true
    /// The restarts of each running instance of a `listen` service, by unit: the start limit
    /// the agent keeps for them.
    private var restartLimits: [String: RestartLimit] = [:]

    /// Takes the instances' restart counters as read at `now`; returns those that restarted
    /// as often as `policy` allows. Units not given (stopped, gone) are forgotten.
    func overRestartLimit(_ statuses: [UnitStatus], policy: ServiceSpec.RestartPolicy, now: Duration) -> [UnitStatus] {
        var seen: [String: RestartLimit] = [:]
        var over: [UnitStatus] = []
        for status in statuses {
            guard let count = status.restartCount else { continue }
            var limit = restartLimits[status.name] ?? RestartLimit(burst: policy.burst, interval: .seconds(policy.intervalSeconds))
            if limit.observe(restartCount: count, at: now) { over.append(status) } else { seen[status.name] = limit }
        }
        restartLimits = seen
        return over
    }

    func setBackoff(_ backoff: [Int: CrashLoopBackoff], crashLoops: [Int: (failure: String, nextTry: ContinuousClock.Instant)]) {
        self.backoff = backoff
        self.crashLoops = crashLoops
    }

    /// Whether this pass also checks the unit files (the first pass, then once per tick).
    func takeFullPass() -> Bool {
        defer { fullPassDue = false }
        return fullPassDue
    }
    private let pokes: AsyncStream<Void>
    private let poke: AsyncStream<Void>.Continuation
    private var reconciler: Task<Void, Never>?
    private var retryTimer: Task<Void, Never>?

    /// Runs `pass` at every poke (coalesced: pokes during a pass make one more pass).
    func startReconciling(_ pass: @escaping @Sendable () async -> Void) {
        guard reconciler == nil else { return }
        let pokes = self.pokes
        reconciler = Task {
            for await _ in pokes {
                await pass()
            }
        }
    }

    /// Asks for a reconcile pass soon.
    nonisolated func pokeReconciler() { poke.yield() }

    /// Asks for a pass at `instant` (a crashed slot's next try), replacing an earlier request.
    func reconcileAgain(at instant: ContinuousClock.Instant?) {
        retryTimer?.cancel()
        guard let instant else { return }
        retryTimer = Task { [poke] in
            guard (try? await Task.sleep(until: instant)) != nil else { return }
            poke.yield()
        }
    }

    /// A count set on purpose (scale, deploy): crashed slots start over.
    func forgetCrashes() {
        backoff.removeAll()
        crashLoops.removeAll()
        retryTimer?.cancel()
    }

    // MARK: Ending

    private(set) var isDeleted = false

    func markDeleted() { isDeleted = true }

    /// Cancels everything the owner runs and waits for it: for delete and for shutdown.
    func stop() async {
        let tasks = [rollout?.task, autoscaleLoop, reconciler, retryTimer].compactMap { $0 }
        poke.finish()
        unitNames.finish()
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        autoscaleLoop = nil
        autoscale = nil
        reconciler = nil
        retryTimer = nil
    }
}
