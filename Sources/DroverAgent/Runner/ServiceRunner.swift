import DroverAPI
import DroverCore
import DroverSystemd
import Logging

/// Everything about one service on this host, and the one writer of its state.
///
/// Every change to the service — API calls, rollout steps, autoscaling decisions, reconcile
/// passes, deletion — runs in its exclusive section, one at a time and in arrival order.
/// Different services have different runners and never wait for each other.
///
/// Its parts each have one job and a file of their own: the live view of its units
/// (`UnitView`), the rollout (`Rollout`), the reconciler (`Reconciler`), the autoscaling
/// loop (`AutoscalingRound`). Their loops are the child tasks of `run()`, which is itself a
/// child of the task group of `ServiceRunners`, the service-lifecycle service: shutdown
/// cancels them all, and delete ends them.
actor ServiceRunner {
    /// What the runner is doing with the service's instance count.
    enum Phase: Equatable {
        /// The reconciler keeps the recorded count.
        case idle
        /// A deployment owns the count until it ends (the reconciler and the autoscaler stand back).
        case rolling(deployment: String)
        /// Delete is under way: a running rollout stops, nothing starts.
        case deleting
        /// The service is gone; the loops have ended.
        case deleted
    }

    nonisolated let name: ServiceName
    let context: AgentContext
    nonisolated let view: UnitView
    private let section = ExclusiveSection()
    private(set) var phase: Phase = .idle

    init(name: ServiceName, context: AgentContext) {
        self.name = name
        self.context = context
        self.view = UnitView(service: name, systemd: context.systemd, stateChanges: context.store.changes)
        // The first pass runs as soon as the loops start: a count recorded before a crash,
        // instances that failed while the agent was away.
        reconcileWakeup.signal()
    }

    /// Runs `body` as the service's only change in progress.
    func exclusively<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await section.run(body)
    }

    var logger: Logger { context.logger }

    // MARK: The loops

    /// The runner's loops, until the service is deleted or the agent stops.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.reconcileLoop() }
            group.addTask { await self.rolloutLoop() }
            group.addTask { await self.autoscaleLoop() }
            group.addTask { await self.logLoop() }
        }
    }

    private var isEnding: Bool { phase == .deleted || Task.isCancelled }

    // MARK: Signals

    /// systemd said a unit of the service changed: the view reads it again, a waiting rollout
    /// wakes up, and the reconciler looks (a rollout owns the count while it runs; the
    /// reconciler looks again when it ends).
    func unitChanged(_ change: UnitChange) async {
        await view.unitChanged(change)
        if phase == .idle { reconcileWakeup.signal() }
    }

    /// The slow tick: read every unit again and check the unit files at the next pass.
    func tick() async {
        await view.markStale()
        slotFilesWritten = [:]
        knownPorts = nil
        fullPassDue = true
        reconcileWakeup.signal()
    }

    // MARK: Slot files

    /// The slot environment files (`PORT`) known to be on disk as written: a rollout step or
    /// a scale that needs no new slot touches no file. Forgotten on the tick, so a file
    /// removed behind the agent's back is written again.
    private var slotFilesWritten: [Int: Int] = [:]

    /// Gives every slot up to `highest` its port (allocated in the store if new) and its file.
    func prepareSlots(upTo highest: Int) async throws {
        if highest > 0, (1...highest).allSatisfy({ slotFilesWritten[$0] != nil }) { return }
        let ports = try await context.store.ports(of: name, slots: highest, range: context.configuration.portRange)
        if ports.contains(where: { slotFilesWritten[$0.key] != $0.value }) {
            try await context.files.writeSlotEnvironment(name, ports: ports)
        }
        slotFilesWritten.merge(ports) { $1 }
        knownPorts?.merge(ports) { $1 }
    }

    /// Every slot's port, as the store has them (read once, then kept: a slot keeps its port
    /// for as long as the service exists, and new slots are allocated here).
    private var knownPorts: [Int: Int]?

    func slotPorts() async throws -> [Int: Int] {
        if let knownPorts { return knownPorts }
        let stored = try await context.store.allPorts(of: name)
        knownPorts = stored
        return stored
    }

    // MARK: The reconciler's state

    let reconcileWakeup = Wakeup()
    /// Each slot's crash-loop back-off, and what the API shows of a slot held back.
    var backoff: [Int: CrashLoopBackoff] = [:]
    /// Crashed slots held back: why each crashed (with its last lines), and its next try.
    var crashLoops: [Int: (failure: String, nextTry: ContinuousClock.Instant)] = [:]
    /// When the next pass is due without a signal (a crashed slot's next try).
    private var retryAt: ContinuousClock.Instant?
    private var fullPassDue = true
    /// The restarts of each running instance of a `listen` service, by unit: the start limit
    /// the agent keeps for them.
    private var restartLimits: [String: RestartLimit] = [:]

    private func reconcileLoop() async {
        while !isEnding {
            await reconcileWakeup.wait(until: retryAt)
            guard !isEnding else { return }
            if let due = retryAt, due <= .now { retryAt = nil }
            await Reconciler(runner: self).pass()
        }
    }

    /// Whether this pass also checks the unit files (the first pass, then once per tick).
    func takeFullPass() -> Bool {
        defer { fullPassDue = false }
        return fullPassDue
    }

    /// Asks for a pass at `instant` (a crashed slot's next try), replacing an earlier request.
    func reconcileAgain(at instant: ContinuousClock.Instant?) {
        retryAt = instant
    }

    func setBackoff(_ backoff: [Int: CrashLoopBackoff], crashLoops: [Int: (failure: String, nextTry: ContinuousClock.Instant)]) {
        self.backoff = backoff
        self.crashLoops = crashLoops
        context.store.changes.note()  // crash loops are reported with the instances
    }

    /// A count set on purpose (scale, deploy): crashed slots start over.
    func forgetCrashes() {
        backoff.removeAll()
        crashLoops.removeAll()
        retryAt = nil
        context.store.changes.note()
    }

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

    // MARK: The rollout

    private let rolloutWakeup = Wakeup()
    private let rolloutStopped = Wakeup()
    /// The deployment to roll next (a newer one replaces it before it starts).
    private var nextRollout: DeploymentInfo?
    /// The deployment whose rollout is running now.
    private var runningRollout: String?

    /// The deployment that owns the count, if any.
    var rollingDeployment: String? {
        if case .rolling(let id) = phase { id } else { nil }
    }

    /// Makes `deployment` the service's rollout: one running stops at its next step (its
    /// record says superseded already) and this one starts once it has stopped.
    func beginRollout(_ deployment: DeploymentInfo) {
        guard phase != .deleting, phase != .deleted else { return }
        phase = .rolling(deployment: deployment.id)
        nextRollout = deployment
        rolloutWakeup.signal()
        view.changes.signal()
    }

    /// Gives the count back to the reconciler when `deployment` owns it (an aborted canary);
    /// its rollout stops at its next step.
    func endRollout(_ deployment: String) {
        guard phase == .rolling(deployment: deployment) else { return }
        phase = .idle
        view.changes.signal()
        reconcileWakeup.signal()
    }

    /// Whether `deployment` still owns the count (not superseded, the service not deleted).
    func isCurrent(_ deployment: String) -> Bool { phase == .rolling(deployment: deployment) }

    private func rolloutLoop() async {
        while !isEnding {
            guard let deployment = nextRollout else {
                await rolloutWakeup.wait()
                continue
            }
            nextRollout = nil
            runningRollout = deployment.id
            await Rollout(runner: self, deployment: deployment).run()
            runningRollout = nil
            rolloutStopped.signal()
            // The count is the reconciler's again.
            if phase == .rolling(deployment: deployment.id) { phase = .idle }
            reconcileWakeup.signal()
        }
    }

    /// Stops the rollout at its next step and returns once it has stopped (for delete).
    func stopRollout() async {
        phase = .deleting
        nextRollout = nil
        view.changes.signal()
        while runningRollout != nil { await rolloutStopped.wait() }
    }

    // MARK: Autoscaling

    private let autoscaleWakeup = Wakeup()
    private(set) var autoscale: AutoscaleState?
    /// Counts policy changes: a round that began under another policy neither scales nor records.
    private(set) var autoscaleGeneration = 0

    /// Sets the policy; a changed one starts over (its first round only takes readings).
    func setAutoscale(_ policy: AutoscalePolicy) {
        if autoscale?.policy == policy { return }
        autoscale = AutoscaleState(policy: policy)
        autoscaleGeneration += 1
        autoscaleWakeup.signal()
    }

    func removeAutoscale() {
        autoscale = nil
        autoscaleGeneration += 1
        autoscaleWakeup.signal()
    }

    func updateAutoscale<T>(_ change: (inout AutoscaleState) -> T) -> T? {
        guard autoscale != nil else { return nil }
        return change(&autoscale!)
    }

    /// A decision every `interval` for as long as a policy stands.
    private func autoscaleLoop() async {
        while !isEnding {
            guard let policy = autoscale?.policy else {
                await autoscaleWakeup.wait()
                continue
            }
            await AutoscalingRound(runner: self, generation: autoscaleGeneration).run()
            await autoscaleWakeup.wait(until: .now + policy.interval)
        }
    }

    // MARK: The shared log reader

    /// The service's log follows share one journal reader (`ServiceLogTail`).
    nonisolated let logTail = ServiceLogTail()

    /// Opens the shared reader while any follow wants it.
    private func logLoop() async {
        while !isEnding {
            guard logTail.isWanted else {
                await logTail.changes.wait()
                continue
            }
            await readLogs()
        }
    }

    /// One opening of the shared reader: every retained release's instances in every slot
    /// the service has had (slot 1 always), and new ones as the view's signals name them,
    /// until no follow wants it or the service is gone.
    private func readLogs() async {
        let (store, service, tail) = (context.store, name, logTail)
        let versions = (try? await store.releases(of: service).map(\.version)) ?? []
        let slots = Set((try? await slotPorts().keys).map(Array.init) ?? []).union([1]).sorted()
        let units = versions.flatMap { version in slots.map { UnitNames.instance(service, version, slot: $0) } }
        guard !units.isEmpty else {
            await logTail.changes.wait()
            return
        }
        let backlog = tail.backlogWanted
        tail.opening(keeping: backlog)
        let reader = context.journal.follow(anyOf: units, last: backlog) { tail.handle($0) }
        let names = view.unitNames.names()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await unit in names where UnitNames.parseInstance(unit)?.service == service { reader.follow([unit]) }
            }
            group.addTask {
                while !tail.closeIfUnwanted(), !Task.isCancelled { await tail.changes.wait() }
            }
            _ = await group.next()
            group.cancelAll()
        }
        reader.stop()
        // The service is gone or the agent stops: its follows end (a reader that closed for
        // want of follows has none left).
        if isEnding { tail.closeAll() }
    }

    // MARK: Ending

    /// A delete that failed: the service stays, and the reconciler keeps its count again.
    func resumeAfterFailedDelete() {
        guard phase == .deleting else { return }
        phase = .idle
        reconcileWakeup.signal()
    }

    /// The service is gone: every loop ends, and log followers stop learning of its units.
    func markDeleted() {
        phase = .deleted
        for wakeup in [reconcileWakeup, rolloutWakeup, autoscaleWakeup, rolloutStopped, view.changes] { wakeup.signal() }
        view.unitNames.finish()
    }
}
