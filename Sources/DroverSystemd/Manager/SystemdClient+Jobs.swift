import CSystemd

/// Start, stop and restart, each waiting for its job to finish.
///
/// `StartUnit` only queues a job and returns its object path; the outcome arrives later in a
/// `JobRemoved` signal, which can come *before* the method reply. So the client subscribes to
/// `JobRemoved` once, at connect, and keeps the results of jobs it does not know yet while any
/// job call of its own is in flight, matching them by job path.
extension SystemdClient {
    /// Starts `unit` and returns when it is started: for `Type=notify` services, after
    /// `READY=1`; for `Type=simple`, once forked. Throws `.jobFailed` etc. when it did not start.
    public func startUnit(_ unit: String, mode: JobMode = .replace) async throws {
        try await runJob("StartUnit", unit: unit, mode: mode)
    }

    /// Stops `unit` and returns when it is stopped (after `ExecStop=`, SIGTERM, `TimeoutStopSec=`).
    /// `whenQueued` is called once systemd has taken the stop job (or the call failed): a caller
    /// that must not start another instance before this one is on its way down waits for it.
    public func stopUnit(_ unit: String, mode: JobMode = .replace, whenQueued: (@Sendable () -> Void)? = nil) async throws {
        try await runJob("StopUnit", unit: unit, mode: mode, whenQueued: whenQueued)
    }

    /// Restarts `unit` (starts it if it was not running) and returns when it is started again.
    public func restartUnit(_ unit: String, mode: JobMode = .replace) async throws {
        try await runJob("RestartUnit", unit: unit, mode: mode)
    }

    func subscribeToJobRemoved() throws(SystemdError) {
        let bus = try openBus()
        jobRemovedSubscription = try SignalSubscription.subscribe(
            bus: bus,
            sender: address.viaBusDaemon ? Self.destination : nil,
            path: Self.managerPath,
            interface: Self.managerInterface,
            member: "JobRemoved"
        ) { [weak self] message in
            self?.assumeIsolated { client in client.jobRemoved(message) }
        }
        loop.onDisconnect = { [weak self, listeners = unitChangeListeners] in
            self?.assumeIsolated { client in client.failAllJobWaiters() }
            listeners.finishAll()
        }
    }

    private func runJob(_ method: String, unit: String, mode: JobMode, whenQueued: (@Sendable () -> Void)? = nil) async throws {
        defer { whenQueued?() }  // at the latest (a failed call queued nothing)
        let message = try methodCall(member: method)
        try message.append(unit)
        try message.append(mode.rawValue)

        jobCallsInFlight += 1
        let reply: BusMessage
        do {
            reply = try await call(message, unit: unit)
            jobCallsInFlight -= 1
        } catch {
            jobCallsInFlight -= 1
            forgetUnclaimedResultsIfIdle()
            throw error
        }
        whenQueued?()
        let job = try reply.readString()

        let result: String
        if let early = unclaimedJobResults.removeValue(forKey: job) {
            result = early
        } else {
            let waiter = JobWaiter()
            jobWaiters[job] = waiter
            defer { jobWaiters[job] = nil }
            forgetUnclaimedResultsIfIdle()
            result = try await waiter.wait()
        }
        forgetUnclaimedResultsIfIdle()
        logger.debug("job finished", metadata: ["unit": "\(unit)", "method": "\(method)", "result": "\(result)"])
        try Self.check(jobResult: result, method: method, unit: unit)
    }

    private func jobRemoved(_ message: BusMessage) {
        guard let fields = try? message.readAll(), fields.count == 4,
              let job = fields[1].string, let result = fields[3].string
        else { return }
        if let unit = fields[2].string { unitChangeListeners.yield(UnitChange(unit: unit, removed: false)) }
        if let waiter = jobWaiters.removeValue(forKey: job) {
            waiter.finish(result)
        } else if jobCallsInFlight > 0 {
            unclaimedJobResults[job] = result
        }
    }

    /// Results nobody claimed once no job call is in flight belong to other clients' jobs.
    private func forgetUnclaimedResultsIfIdle() {
        if jobCallsInFlight == 0 { unclaimedJobResults.removeAll() }
    }

    private func failAllJobWaiters() {
        let error = SystemdError(.disconnected, message: "the connection to systemd at \(address) closed while waiting for a job")
        for waiter in jobWaiters.values { waiter.fail(error) }
        jobWaiters.removeAll()
    }

    /// Maps a job result to success or a typed error, as systemctl does.
    static func check(jobResult: String, method: String, unit: String) throws(SystemdError) {
        let verb = switch method {
        case "StopUnit": "stop"
        case "RestartUnit": "restart"
        default: "start"
        }
        if jobResult == "done" { return }
        let (code, explanation): (SystemdError.Code, String) = switch jobResult {
        case "failed": (.jobFailed, "failed (see its status and journal)")
        case "timeout": (.jobTimedOut, "timed out")
        case "canceled": (.jobCanceled, "was canceled")
        case "dependency": (.jobDependencyFailed, "failed because a dependency failed")
        case "skipped": (.jobSkipped, "was skipped (an unmet condition)")
        default: (.jobFailed, "ended with result '\(jobResult)'")
        }
        throw SystemdError(code, unit: unit, message: "job to \(verb) \(unit) \(explanation)")
    }
}
